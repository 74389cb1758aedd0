"""Deterministic, realistic wc/v3 orders for the sandbox store, the demo, tests and benchmarks."""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

from connector.sandbox.data_catalog import (
    COUNTRIES,
    COUPONS,
    CURRENCY_RATES,
    CURRENCY_SYMBOLS,
    CUSTOMER_NOTES,
    EMAIL_DOMAINS,
    FREE_SHIPPING_THRESHOLD,
    ORDER_PROTECTION_FEE,
    PAYMENT_METHODS,
    PRODUCTS,
    STORE_URL,
    USER_AGENTS,
    Country,
    Product,
    fill_digits,
    order_protection_premium,
)
from connector.sandbox.wcdates import date_pair, site_timezone, to_second, utc_now

CENT = Decimal("0.01")
PAID_SHARE = 0.75
UNPAID_STATUSES = ("pending", "on-hold", "cancelled", "failed")
MALFORMED_TOTAL = "12,34O"
FIRST_ORDER_ID = 1000
WINDOW = timedelta(days=3)

# What a special order is for: the edge cases a pipeline must handle.
NAMES_ONLY_IN_SHIPPING = "names_only_in_shipping"
NO_EMAIL = "no_email"
GUEST = "guest"
PARTIAL_REFUND = "partial_refund"


def money(value: Decimal) -> str:
    """A money string with two decimals, as WooCommerce formats order totals."""
    return str(value.quantize(CENT, ROUND_HALF_UP))


def raw_amount(value: Decimal) -> str:
    """An unformatted tax amount ("0.9", "1.125"), as WooCommerce stores `taxes[]` values."""
    return format(value.quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize(), "f")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    return _ascii(text).lower().replace(" ", "-")


@dataclass
class _Counters:
    """Row ids shared by all orders of one batch (order items and meta rows are table-wide in WooCommerce)."""

    item: int = 4100
    meta: int = 18200
    customer: int = 11

    def next_item(self) -> int:
        self.item += 1
        return self.item

    def next_meta(self) -> int:
        self.meta += 1
        return self.meta


@dataclass(frozen=True)
class _Person:
    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    company: str
    country: Country
    currency: str
    address: tuple[str, str, str, str]

    def billing(self) -> dict[str, str]:
        address_1, city, state, postcode = self.address
        return {
            "first_name": self.first_name, "last_name": self.last_name, "company": self.company,
            "address_1": address_1, "address_2": "", "city": city, "state": state, "postcode": postcode,
            "country": self.country.code, "email": self.email, "phone": self.phone,
        }


@dataclass
class _Totals:
    """Money of one order in the order's currency, kept as Decimal until formatted."""

    items_subtotal: Decimal = Decimal("0")
    items_total: Decimal = Decimal("0")
    items_subtotal_tax: Decimal = Decimal("0")
    items_tax: Decimal = Decimal("0")
    shipping: Decimal = Decimal("0")
    shipping_tax: Decimal = Decimal("0")
    fees: Decimal = Decimal("0")


class _Generator:
    def __init__(self, rng: Random, end: datetime, site_tz: tzinfo, wc_version: str) -> None:
        self.rng = rng
        self.end = end
        self.site_tz = site_tz
        self.wc_version = wc_version
        self.counters = _Counters()
        self.people: list[_Person] = []
        self.emails: set[str] = set()

    # -- people ----------------------------------------------------------------------------
    def person(self) -> _Person:
        rng = self.rng
        if self.people and rng.random() < 0.2:
            return rng.choice(self.people)
        seen = {person.country.code for person in self.people}
        unseen = [country for country in COUNTRIES if country.code not in seen]
        if unseen:  # every country once first, so that even a small batch has the variety
            country = rng.choice(unseen)
            currency = country.currencies[0]
        else:
            country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
            currency = rng.choice(country.currencies)
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        local = f"{_ascii(first)}.{_ascii(last)}".replace("'", "")
        domain = rng.choice(EMAIL_DOMAINS)
        email = f"{local}@{domain}".lower()
        suffix = 2
        while email in self.emails:
            email = f"{local}{suffix}@{domain}".lower()
            suffix += 1
        self.emails.add(email)
        if rng.random() < 0.15:  # some people type their address with capitals
            email = email.split("@")[0].title() + "@" + domain.title()
        guest = rng.random() < 0.35
        if not guest:
            self.counters.customer += rng.randint(1, 4)
        person = _Person(
            customer_id=0 if guest else self.counters.customer,
            first_name=first,
            last_name=last,
            email=email,
            phone="" if rng.random() < 0.1 else fill_digits(rng.choice(country.phone_formats), rng),
            company=rng.choice(("Northwind Traders", "Globex Studio", "Initech GmbH")) if rng.random() < 0.1 else "",
            country=country,
            currency=currency,
            address=rng.choice(country.addresses),
        )
        self.people.append(person)
        return person

    # -- order parts -----------------------------------------------------------------------
    def meta(self, key: str, value: Any, display_key: str | None = None, display_value: Any = None) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.counters.next_meta(), "key": key, "value": value}
        if display_key is not None:
            row["display_key"] = display_key
            row["display_value"] = display_value
        return row

    def line_item(self, product: Product, currency: str) -> dict[str, Any]:
        rng = self.rng
        quantity = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        price = (product.price * CURRENCY_RATES[currency]).quantize(CENT, ROUND_HALF_UP)
        chosen = [rng.randrange(len(attribute.options)) for attribute in product.attributes]
        variation_id, name, sku, meta = 0, product.name, product.sku, []
        if product.attributes:
            combination = 0
            for attribute, index in zip(product.attributes, chosen, strict=True):
                combination = combination * len(attribute.options) + index
            variation_id = product.product_id * 100 + combination + 1
            values = [attribute.options[index] for attribute, index in zip(product.attributes, chosen, strict=True)]
            name = f"{product.name} - {', '.join(values)}"
            sku = "-".join([product.sku, *(_ascii(value).upper().replace(" ", "")[:3] for value in values)])
            meta = [self.meta(attribute.taxonomy, _slug(value), attribute.label, value)
                    for attribute, value in zip(product.attributes, values, strict=True)]
        subtotal = price * quantity
        return {
            "id": self.counters.next_item(), "name": name, "product_id": product.product_id,
            "variation_id": variation_id, "quantity": quantity, "tax_class": "",
            "subtotal": money(subtotal), "subtotal_tax": "0.00", "total": money(subtotal), "total_tax": "0.00",
            "taxes": [], "meta_data": meta, "sku": sku, "global_unique_id": "", "price": float(price),
            "image": {"id": str(product.image_id), "src": product.image_src},
            "parent_name": product.name if variation_id else None,
        }

    def apply_coupon(self, items: list[dict[str, Any]], currency: str) -> dict[str, Any] | None:
        if self.rng.random() >= 0.2:
            return None
        code, discount_type, amount = self.rng.choice(COUPONS)
        subtotals = [Decimal(item["subtotal"]) for item in items]
        cart = sum(subtotals, Decimal("0"))
        if discount_type == "percent":
            discounts = [(subtotal * amount / 100).quantize(CENT, ROUND_HALF_UP) for subtotal in subtotals]
        else:
            fixed = min((amount * CURRENCY_RATES[currency]).quantize(CENT, ROUND_HALF_UP), cart)
            discounts = [(fixed * subtotal / cart).quantize(CENT, ROUND_HALF_UP) for subtotal in subtotals[:-1]]
            discounts.append(fixed - sum(discounts, Decimal("0")))
        for item, subtotal, discount in zip(items, subtotals, discounts, strict=True):
            item["total"] = money(subtotal - discount)
            item["price"] = float((subtotal - discount) / item["quantity"])
        return {
            "id": self.counters.next_item(), "code": code.lower(), "discount": money(sum(discounts, Decimal("0"))),
            "discount_tax": "0.00", "discount_type": discount_type, "nominal_amount": int(amount),
            "free_shipping": False, "meta_data": [],
        }

    def apply_taxes(self, items: list[dict[str, Any]], rate: Decimal, rate_id: int, totals: _Totals) -> None:
        for item in items:
            subtotal, total = Decimal(item["subtotal"]), Decimal(item["total"])
            totals.items_subtotal += subtotal
            totals.items_total += total
            if not rate:
                continue
            subtotal_tax, total_tax = subtotal * rate, total * rate
            item["subtotal_tax"], item["total_tax"] = money(subtotal_tax), money(total_tax)
            item["taxes"] = [{"id": rate_id, "total": raw_amount(total_tax), "subtotal": raw_amount(subtotal_tax)}]
            totals.items_subtotal_tax += Decimal(item["subtotal_tax"])
            totals.items_tax += Decimal(item["total_tax"])

    def shipping_line(self, items: list[dict[str, Any]], country: Country, currency: str, rate: Decimal,
                      rate_id: int, totals: _Totals) -> dict[str, Any]:
        fx = CURRENCY_RATES[currency]
        summary = ", ".join(f"{item['name']} &times; {item['quantity']}" for item in items)
        free = totals.items_subtotal >= FREE_SHIPPING_THRESHOLD * fx
        totals.shipping = Decimal("0") if free else (country.flat_rate * fx).quantize(CENT, ROUND_HALF_UP)
        taxes: list[dict[str, str | int]] = []
        if country.taxes_shipping and rate and totals.shipping:
            tax = totals.shipping * rate
            totals.shipping_tax = Decimal(money(tax))
            taxes = [{"id": rate_id, "total": raw_amount(tax), "subtotal": ""}]
        return {
            "id": self.counters.next_item(),
            "method_title": "Free shipping" if free else "Flat rate",
            "method_id": "free_shipping" if free else "flat_rate",
            "instance_id": "2" if free else "1",
            "total": money(totals.shipping), "total_tax": money(totals.shipping_tax), "taxes": taxes,
            "tax_status": "taxable",
            "meta_data": [self.meta("Items", summary, "Items", summary)],
        }

    def fee_lines(self, currency: str, totals: _Totals) -> list[dict[str, Any]]:
        if self.rng.random() >= 0.35:
            return []
        fx = CURRENCY_RATES[currency]
        premium = (order_protection_premium(totals.items_subtotal / fx) * fx).quantize(CENT, ROUND_HALF_UP)
        totals.fees += premium
        return [{
            "id": self.counters.next_item(), "name": ORDER_PROTECTION_FEE, "tax_class": "", "tax_status": "none",
            "total": money(premium), "total_tax": "0.00", "taxes": [], "meta_data": [],
        }]

    # -- timeline --------------------------------------------------------------------------
    def timeline(self, status: str, created: datetime, method: str) -> dict[str, datetime | None]:
        rng, end = self.rng, self.end

        def within(moment: datetime, floor: datetime) -> datetime:
            return max(floor, min(moment, end))

        paid = completed = None
        if status in ("processing", "completed"):
            delay = timedelta(hours=rng.uniform(2, 30)) if method == "bacs" else timedelta(seconds=rng.randint(3, 90))
            paid = within(created + delay, created)
            modified = paid + timedelta(seconds=rng.randint(0, 3))
            if status == "completed":
                completed = within(paid + timedelta(hours=rng.uniform(1, 20)), paid)
                modified = completed
        elif status == "on-hold":
            modified = created + timedelta(seconds=rng.randint(1, 5))
        elif status == "cancelled":
            modified = created + timedelta(minutes=rng.randint(60, 90))
        elif status == "failed":
            modified = created + timedelta(seconds=rng.randint(10, 60))
        else:
            modified = created
        return {"created": created, "modified": within(modified, created), "paid": paid, "completed": completed}

    def payment(self, status: str) -> tuple[str, str]:
        rng = self.rng
        if status == "on-hold":
            return "bacs", ""
        method = rng.choices(("stripe", "ppcp-gateway", "bacs"), weights=(60, 30, 10))[0]
        if status in ("pending", "cancelled") and method == "bacs":
            method = "stripe"
        paid = status in ("processing", "completed")
        if method == "stripe" and (paid or status == "failed"):
            return method, "pi_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24))
        if method == "ppcp-gateway" and paid:
            return method, "".join(rng.choices(string.ascii_uppercase + string.digits, k=17))
        return method, ""

    # -- the order -------------------------------------------------------------------------
    def order(self, order_id: int, status: str, created: datetime, special: str | None) -> dict[str, Any]:
        rng = self.rng
        person = self.person()
        country = person.country
        currency = person.currency
        products = rng.sample(PRODUCTS, rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0])
        items = [self.line_item(product, currency) for product in products]
        coupon = self.apply_coupon(items, currency)
        rate = country.tax_rates.get(person.address[2], country.tax_rates[""])
        rate_id = 70 + COUNTRIES.index(country)
        totals = _Totals()
        self.apply_taxes(items, rate, rate_id, totals)
        shipping_line = self.shipping_line(items, country, currency, rate, rate_id, totals)
        fee_lines = self.fee_lines(currency, totals)
        discount = totals.items_subtotal - totals.items_total
        discount_tax = totals.items_subtotal_tax - totals.items_tax
        if coupon is not None:
            coupon["discount_tax"] = money(discount_tax)
        total_tax = totals.items_tax + totals.shipping_tax
        total = totals.items_total + totals.shipping + totals.fees + total_tax
        tax_lines = []
        if rate:
            state = person.address[2]
            tax_lines = [{
                "id": self.counters.next_item(),
                "rate_code": "-".join(part for part in (country.code, state, country.tax_label.upper(), "1") if part),
                "rate_id": rate_id, "label": country.tax_label, "compound": False,
                "tax_total": money(totals.items_tax), "shipping_tax_total": money(totals.shipping_tax),
                "rate_percent": float(rate * 100), "meta_data": [],
            }]

        billing = person.billing()
        shipping = {key: value for key, value in billing.items() if key != "email"}
        shipping["phone"] = billing["phone"] if rng.random() < 0.3 else ""
        customer_id = person.customer_id
        if special == NAMES_ONLY_IN_SHIPPING:
            billing["first_name"] = billing["last_name"] = ""
        elif special == NO_EMAIL:
            billing["email"] = ""
        elif special == GUEST:
            customer_id = 0

        method, transaction_id = self.payment(status)
        when = self.timeline(status, created, method)
        created_via = "admin" if rng.random() < 0.08 or special == NO_EMAIL else "checkout"
        order_key = "wc_order_" + "".join(rng.choices(string.ascii_letters + string.digits, k=13))
        refunds = []
        if special == PARTIAL_REFUND:
            refunds = [{"id": order_id + 1, "reason": "Item arrived damaged",
                        "total": "-" + money(min(Decimal(items[0]["total"]), Decimal("10.00")))}]

        def local(name: str) -> str | None:
            moment = when[name]
            return date_pair(moment, self.site_tz)[0] if moment else None

        def gmt(name: str) -> str | None:
            moment = when[name]
            return date_pair(moment, self.site_tz)[1] if moment else None

        links: dict[str, list[dict[str, str]]] = {
            "self": [{"href": f"{STORE_URL}/wp-json/wc/v3/orders/{order_id}"}],
            "collection": [{"href": f"{STORE_URL}/wp-json/wc/v3/orders"}],
        }
        if customer_id:
            links["customer"] = [{"href": f"{STORE_URL}/wp-json/wc/v3/customers/{customer_id}"}]
        return {
            "id": order_id,
            "parent_id": 0,
            "status": status,
            "currency": currency,
            "version": self.wc_version,
            "prices_include_tax": False,
            "date_created": local("created"),
            "date_modified": local("modified"),
            "discount_total": money(discount),
            "discount_tax": money(discount_tax),
            "shipping_total": money(totals.shipping),
            "shipping_tax": money(totals.shipping_tax),
            "cart_tax": money(totals.items_tax),
            "total": money(total),
            "total_tax": money(total_tax),
            "customer_id": customer_id,
            "order_key": order_key,
            "billing": billing,
            "shipping": shipping,
            "payment_method": method,
            "payment_method_title": PAYMENT_METHODS[method],
            "transaction_id": transaction_id,
            "customer_ip_address": "" if created_via == "admin" else f"203.0.113.{rng.randint(1, 254)}",
            "customer_user_agent": "" if created_via == "admin" else rng.choice(USER_AGENTS),
            "created_via": created_via,
            "customer_note": rng.choice(CUSTOMER_NOTES),
            "date_completed": local("completed"),
            "date_paid": local("paid"),
            "cart_hash": "" if created_via == "admin" else f"{rng.getrandbits(128):032x}",
            "number": str(order_id),
            "meta_data": [
                self.meta("is_vat_exempt", "no"),
                self.meta("_wc_order_attribution_source_type", rng.choice(("organic", "utm", "typein"))),
            ],
            "line_items": items,
            "tax_lines": tax_lines,
            "shipping_lines": [shipping_line],
            "fee_lines": fee_lines,
            "coupon_lines": [coupon] if coupon else [],
            "refunds": refunds,
            "payment_url": f"{STORE_URL}/checkout/order-pay/{order_id}/?pay_for_order=true&key={order_key}",
            "is_editable": status in ("pending", "on-hold", "auto-draft"),
            "needs_payment": status in ("pending", "failed"),
            "needs_processing": True,
            "date_created_gmt": gmt("created"),
            "date_modified_gmt": gmt("modified"),
            "date_completed_gmt": gmt("completed"),
            "date_paid_gmt": gmt("paid"),
            "currency_symbol": CURRENCY_SYMBOLS[currency],
            "_links": links,
        }


def _statuses(count: int, rng: Random) -> list[str]:
    paid = round(count * PAID_SHARE)
    statuses = [rng.choice(("processing", "processing", "completed")) for _ in range(paid)]
    statuses += [UNPAID_STATUSES[index % len(UNPAID_STATUSES)] for index in range(count - paid)]
    rng.shuffle(statuses)
    return statuses


def _specials(statuses: list[str], rng: Random) -> dict[int, str]:
    paid = [index for index, status in enumerate(statuses) if status in ("processing", "completed")]
    chosen = rng.sample(paid, min(3, len(paid)))
    specials = dict(zip(chosen, (NAMES_ONLY_IN_SHIPPING, NO_EMAIL, GUEST), strict=False))  # fewer when few are paid
    completed = [index for index in paid if statuses[index] == "completed" and index not in specials]
    if completed:
        specials[rng.choice(completed)] = PARTIAL_REFUND
    return specials


def sample_woocommerce_orders(
    count: int = 36,
    *,
    seed: int = 7,
    now: datetime | None = None,
    include_malformed: bool = False,
    site_utc_offset_hours: float = -3,
    wc_version: str = "9.4.0",
) -> list[dict[str, Any]]:
    """``count`` wc/v3 orders created over the 3 days before ``now`` (default: the real time), oldest first.

    About 75% are paid (processing/completed, with ``date_paid``), the rest pending, on-hold,
    cancelled or failed. Among the paid ones, when there are enough: one has empty billing names
    (the names are only in ``shipping``), one has no e-mail (``billing.email == ""``), one is a guest
    (``customer_id == 0``), and a completed one has a partial refund. Money adds up:
    ``total = line totals (after discounts) + shipping + fees + taxes``. With ``include_malformed``,
    one more paid order, the newest, has ``total == "12,34O"``. Same arguments, same orders.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = Random(seed)
    end = to_second(now or utc_now())
    generator = _Generator(rng, end, site_timezone(site_utc_offset_hours), wc_version)
    window = int(WINDOW.total_seconds())
    created = sorted(end - timedelta(seconds=rng.randint(300, window)) for _ in range(count))
    statuses = _statuses(count, rng)
    specials = _specials(statuses, rng)
    orders: list[dict[str, Any]] = []
    order_id = FIRST_ORDER_ID
    for index in range(count):
        order_id += rng.randint(1, 3)
        orders.append(generator.order(order_id, statuses[index], created[index], specials.get(index)))
        if specials.get(index) == PARTIAL_REFUND:
            order_id += 1  # the refund is a post too and takes the next id
    if include_malformed:
        malformed = generator.order(order_id + 1, "processing", end - timedelta(minutes=2), None)
        malformed["total"] = MALFORMED_TOTAL
        orders.append(malformed)
    return orders
