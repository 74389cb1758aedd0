"""Deterministic, realistic BigCommerce V2 orders for the sandbox store, the demo, tests and benchmarks.

Each order is in the *assembled* shape: the V2 order object with its sub-resources inlined as
arrays under `products`, `shipping_addresses`, `coupons` (and `fees`), which is what
`BigCommerceSandbox.add_order` takes and what `preview --source bigcommerce` reads. Money is
strings with 4 decimals ("24.0000") except coupon amounts (JSON numbers, as in the spec); dates
are RFC 2822 in UTC. People, addresses and products come from `data_catalog` (all fictitious).
"""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

from connector.sandbox.bcdates import format_bc, to_second
from connector.sandbox.data_catalog import (
    COUNTRIES,
    CUSTOMER_NOTES,
    EMAIL_DOMAINS,
    ORDER_PROTECTION_FEE,
    PRODUCTS,
    Country,
    Product,
    fill_digits,
    order_protection_premium,
)
from connector.sandbox.wcdates import utc_now

FOUR = Decimal("0.0001")
CENT = Decimal("0.01")
FIRST_ORDER_ID = 100
WINDOW = timedelta(days=3)
PAID_STATUS_IDS = (11, 11, 11, 2, 10, 9)  # drawn from for paid orders (Awaiting Fulfillment is the usual first state)
UNPAID_STATUS_IDS = (7, 1, 5, 0)  # Awaiting Payment, Pending, Cancelled, Incomplete
PAID_SHARE = 0.75
PAYMENT_METHODS = ("Credit Card", "PayPal", "Test Payment Gateway", "Cash on Delivery")
BC_COUPONS = (  # code, type (1 percentage, 2 per-total), amount
    ("WELCOME10", 1, Decimal("10")),
    ("SPRING15", 1, Decimal("15")),
    ("SAVE5", 2, Decimal("5")),
)
WEIGHTS = {31: "0.4000", 32: "1.1000", 33: "0.3000", 34: "0.9000", 35: "0.2000", 36: "0.1500", 37: "2.1000",
           38: "0.8000", 39: "0.2000"}  # pounds (the sandbox store's weight unit is LBS)
BC_PRODUCT_OFFSET = 80  # catalogue product 31 is BigCommerce product 111

#: GET /v2/order_statuses (id, name, system description), in the store's sort order
ORDER_STATUSES: tuple[tuple[int, str, str], ...] = (
    (0, "Incomplete", ("An incomplete order happens when a shopper reached the payment page, but did not complete "
                      "the transaction.")),
    (1, "Pending", "Customer started the checkout process, but did not complete it."),
    (7, "Awaiting Payment", "Customer has completed checkout process, but payment has yet to be confirmed."),
    (11, "Awaiting Fulfillment", "Customer has completed the checkout process and payment has been confirmed."),
    (9, "Awaiting Shipment", ("Order has been pulled and packaged, and is awaiting collection from a shipping "
                             "provider.")),
    (8, "Awaiting Pickup", "Order has been pulled, and is awaiting customer pickup from a seller-specified location."),
    (3, "Partially Shipped", ("Only some items in the order have been shipped, due to some products being pre-order "
                             "only or other reasons.")),
    (10, "Completed", "Client has paid for their digital product and their file(s) are available for download."),
    (2, "Shipped", ("Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items "
                   "action.")),
    (5, "Cancelled", "Seller has cancelled an order, due to a stock inconsistency or other reasons."),
    (6, "Declined", "Seller has marked the order as declined for lack of manual payment, or other reasons."),
    (4, "Refunded", "Seller has used the Refund action."),
    (13, "Disputed", ("Customer has initiated a dispute resolution process for the PayPal transaction that paid for "
                     "the order.")),
    (12, "Manual Verification Required", "Order is on hold while some aspect needs to be manually confirmed."),
    (14, "Partially Refunded", "Seller has partially refunded the order."),
)
STATUS_NAMES = {status_id: name for status_id, name, _ in ORDER_STATUSES}

# What a special order is for: the edge cases a pipeline must handle.
GUEST = "guest"
NULL_CURRENCY = "null_currency"
INCOMPLETE = "incomplete"


def amount(value: Decimal) -> str:
    """A V2 money string: 4 decimals."""
    return str(value.quantize(FOUR, ROUND_HALF_UP))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class _Person:
    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    company: str
    country: Country
    address: tuple[str, str, str, str]

    def address_fields(self) -> dict[str, Any]:
        street, city, state, postcode = self.address
        return {"first_name": self.first_name, "last_name": self.last_name, "company": self.company,
                "street_1": street, "street_2": "", "city": city, "state": state, "zip": postcode,
                "country": _COUNTRY_NAMES[self.country.code], "country_iso2": self.country.code,
                "phone": self.phone, "email": self.email}


_COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "DE": "Germany",
                  "AU": "Australia", "BR": "Brazil"}


class _Generator:
    def __init__(self, rng: Random, end: datetime) -> None:
        self.rng = rng
        self.end = end
        self.people: list[_Person] = []
        self.emails: set[str] = set()
        self.line_id = 500
        self.address_id = 200
        self.coupon_id = 30
        self.fee_id = 10
        self.customer_id = 40

    def person(self) -> _Person:
        rng = self.rng
        if self.people and rng.random() < 0.2:
            return rng.choice(self.people)
        country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        local = local.encode("ascii", "ignore").decode() or "customer"
        domain = rng.choice(EMAIL_DOMAINS)
        email, suffix = f"{local}@{domain}", 2
        while email in self.emails:
            email, suffix = f"{local}{suffix}@{domain}", suffix + 1
        self.emails.add(email)
        guest = rng.random() < 0.3
        if not guest:
            self.customer_id += rng.randint(1, 3)
        person = _Person(0 if guest else self.customer_id, first, last, email,
                         fill_digits(rng.choice(country.phone_formats), rng),
                         "Initech GmbH" if rng.random() < 0.08 else "", country, rng.choice(country.addresses))
        self.people.append(person)
        return person

    def line(self, order_id: int, address_id: int, product: Product, rate: Decimal, *, quantity: int | None = None,
             choice: int | None = None) -> dict[str, Any]:
        rng = self.rng
        self.line_id += 1
        quantity = quantity or rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        options: list[dict[str, Any]] = []
        variant_id, sku, name = 0, product.sku, product.name
        if product.attributes:
            picks = [(choice if choice is not None else rng.randrange(len(a.options))) % len(a.options)
                     for a in product.attributes]
            combination = 0
            for attribute, pick in zip(product.attributes, picks, strict=True):
                combination = combination * len(attribute.options) + pick
            variant_id = (product.product_id + BC_PRODUCT_OFFSET) * 10 + combination
            values = [a.options[p] for a, p in zip(product.attributes, picks, strict=True)]
            sku = "-".join([product.sku, *(v.upper().replace(" ", "")[:3] for v in values)])
            for index, (attribute, value) in enumerate(zip(product.attributes, values, strict=True)):
                options.append({
                    "id": self.line_id * 10 + index, "option_id": 10 + index, "order_product_id": self.line_id,
                    "product_option_id": 100 + index, "display_name": attribute.label,
                    "display_name_customer": attribute.label, "display_name_merchant": attribute.label,
                    "display_value": value, "display_value_customer": value, "display_value_merchant": value,
                    "value": str(60 + index), "type": "Multiple choice" if attribute.label == "Size" else "Swatch",
                    "name": attribute.label, "display_style": "Rectangle",
                })
        price = product.price
        tax = _cents(price * rate)
        return {
            "id": self.line_id, "order_id": order_id, "product_id": product.product_id + BC_PRODUCT_OFFSET,
            "variant_id": variant_id, "order_address_id": address_id, "name": name, "name_customer": name,
            "name_merchant": name, "sku": sku, "upc": f"0{product.product_id:03d}{variant_id:08d}"[:12],
            "type": "physical", "base_price": amount(price), "price_ex_tax": amount(price),
            "price_inc_tax": amount(price + tax), "price_tax": amount(tax), "base_total": amount(price * quantity),
            "total_ex_tax": amount(price * quantity), "total_inc_tax": amount((price + tax) * quantity),
            "total_tax": amount(tax * quantity), "weight": WEIGHTS.get(product.product_id, "0.5000"),
            "width": "8.0000", "height": "2.0000", "depth": "10.0000", "quantity": quantity,
            "base_cost_price": amount(price * Decimal("0.45")), "cost_price_inc_tax": amount(price * Decimal("0.45")),
            "cost_price_ex_tax": amount(price * Decimal("0.45")), "cost_price_tax": "0.0000", "is_refunded": False,
            "quantity_refunded": 0, "refund_amount": "0.0000", "return_id": 0, "wrapping_id": 0, "wrapping_name": "",
            "base_wrapping_cost": "0.0000", "wrapping_cost_ex_tax": "0.0000", "wrapping_cost_inc_tax": "0.0000",
            "wrapping_cost_tax": "0.0000", "wrapping_message": "", "quantity_shipped": 0, "event_name": None,
            "event_date": None, "fixed_shipping_cost": "0.0000", "ebay_item_id": "", "ebay_transaction_id": "",
            "option_set_id": 19 if options else None, "parent_order_product_id": None, "is_bundled_product": False,
            "bin_picking_number": f"BIN-{product.product_id}", "external_id": None, "brand": "Sandbox Supply Co.",
            "applied_discounts": [], "product_options": options, "configurable_fields": [],
            "gift_certificate_id": None, "discounted_total_inc_tax": amount((price + tax) * quantity),
        }

    def order(self, order_id: int, status_id: int, created: datetime, special: str | None,
              lines: int | None = None) -> dict[str, Any]:
        rng = self.rng
        person = self.person()
        if special == GUEST:
            person = _Person(0, *(getattr(person, f) for f in ("first_name", "last_name", "email", "phone",
                                                                 "company", "country", "address")))
        rate = person.country.tax_rates.get(person.address[2], person.country.tax_rates[""])
        self.address_id += 1
        address_id = self.address_id
        if lines is None:
            chosen = rng.sample(PRODUCTS, rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0])
            products = [self.line(order_id, address_id, product, rate) for product in chosen]
        else:  # a big order: every line a different product/variant (or the same one again, as stores allow)
            products = [self.line(order_id, address_id, PRODUCTS[i % len(PRODUCTS)], rate, quantity=1, choice=i)
                        for i in range(lines)]
        subtotal = sum((Decimal(p["total_ex_tax"]) for p in products), Decimal("0"))
        subtotal_tax = sum((Decimal(p["total_tax"]) for p in products), Decimal("0"))
        coupons: list[dict[str, Any]] = []
        discount = Decimal("0")
        if lines is None and rng.random() < 0.2:
            code, kind, nominal = rng.choice(BC_COUPONS)
            discount = _cents(subtotal * nominal / 100) if kind == 1 else min(nominal, subtotal)
            self.coupon_id += 1
            coupons.append({"id": self.coupon_id, "coupon_id": BC_COUPONS.index((code, kind, nominal)) + 1,
                            "order_id": order_id, "code": code, "amount": float(nominal), "type": kind,
                            "discount": float(discount)})
        discount_tax = _cents(discount * rate)
        free = subtotal >= 100
        shipping = Decimal("0") if free else person.country.flat_rate
        shipping_tax = _cents(shipping * rate) if person.country.taxes_shipping else Decimal("0")
        fees: list[dict[str, Any]] = []
        if lines is None and rng.random() < 0.35:
            premium = order_protection_premium(subtotal)
            self.fee_id += 1
            fees.append({"id": self.fee_id, "type": "custom_fee", "display_name_customer": ORDER_PROTECTION_FEE,
                         "display_name_merchant": ORDER_PROTECTION_FEE, "source": "orderprotection",
                         "base_cost": amount(premium), "cost_ex_tax": amount(premium), "cost_inc_tax": amount(premium),
                         "cost_tax": "0.0000", "tax_class_id": None})
        fee_total = sum((Decimal(f["cost_ex_tax"]) for f in fees), Decimal("0"))
        total_tax = subtotal_tax - discount_tax + shipping_tax
        total_ex_tax = subtotal - discount + shipping + fee_total
        quantity = sum(p["quantity"] for p in products)

        delay = timedelta(seconds=rng.randint(2, 40))
        modified = created if status_id in (0, 1) else min(self.end, created + delay)
        shipped = ""
        if status_id in (2, 10):
            moment = min(self.end, created + timedelta(hours=rng.uniform(2, 30)))
            shipped, modified = format_bc(moment), moment
        items_shipped = quantity if status_id in (2, 10) else 0
        billing = person.address_fields() | {"form_fields": []}
        shipping_address = person.address_fields() | {
            "id": address_id, "order_id": order_id, "items_total": quantity, "items_shipped": items_shipped,
            "shipping_method": "Free Shipping" if free else "Flat Rate", "base_cost": amount(shipping),
            "cost_ex_tax": amount(shipping), "cost_inc_tax": amount(shipping + shipping_tax),
            "cost_tax": amount(shipping_tax), "cost_tax_class_id": 2, "base_handling_cost": "0.0000",
            "handling_cost_ex_tax": "0.0000", "handling_cost_inc_tax": "0.0000", "handling_cost_tax": "0.0000",
            "handling_cost_tax_class_id": 2, "shipping_zone_id": 1 + COUNTRIES.index(person.country),
            "shipping_zone_name": _COUNTRY_NAMES[person.country.code], "form_fields": [],
        }
        paid = status_id in PAID_STATUS_IDS or status_id in (3, 8)
        currency = None if special == NULL_CURRENCY else "USD"
        return {
            "id": order_id, "customer_id": person.customer_id,
            "date_created": format_bc(created), "date_modified": format_bc(modified), "date_shipped": shipped,
            "status_id": status_id, "status": STATUS_NAMES[status_id],
            "subtotal_ex_tax": amount(subtotal), "subtotal_inc_tax": amount(subtotal + subtotal_tax),
            "subtotal_tax": amount(subtotal_tax), "base_shipping_cost": amount(shipping),
            "shipping_cost_ex_tax": amount(shipping), "shipping_cost_inc_tax": amount(shipping + shipping_tax),
            "shipping_cost_tax": amount(shipping_tax), "shipping_cost_tax_class_id": 2,
            "base_handling_cost": "0.0000", "handling_cost_ex_tax": "0.0000", "handling_cost_inc_tax": "0.0000",
            "handling_cost_tax": "0.0000", "handling_cost_tax_class_id": 2, "base_wrapping_cost": "0.0000",
            "wrapping_cost_ex_tax": "0.0000", "wrapping_cost_inc_tax": "0.0000", "wrapping_cost_tax": "0.0000",
            "wrapping_cost_tax_class_id": 3, "total_ex_tax": amount(total_ex_tax),
            "total_inc_tax": amount(total_ex_tax + total_tax), "total_tax": amount(total_tax),
            "is_tax_inclusive_pricing": False, "items_total": quantity, "items_shipped": items_shipped,
            "payment_method": rng.choice(PAYMENT_METHODS) if status_id != 0 else "",
            "payment_provider_id": "".join(rng.choices(string.ascii_uppercase + string.digits, k=12)) if paid else "",
            "payment_status": "captured" if paid else ("" if status_id in (0, 1) else "pending"),
            "refunded_amount": "0.0000", "order_is_digital": False, "store_credit_amount": "0.0000",
            "gift_certificate_amount": "0.0000", "ip_address": f"198.51.100.{rng.randint(1, 254)}",
            "ip_address_v6": "", "geoip_country": _COUNTRY_NAMES[person.country.code],
            "geoip_country_iso2": person.country.code, "currency_id": 1, "currency_code": currency,
            "currency_exchange_rate": "1.0000000000", "default_currency_id": 1,
            "default_currency_code": "USD" if currency else "", "staff_notes": "",
            "customer_message": rng.choice(CUSTOMER_NOTES), "discount_amount": amount(discount),
            "coupon_discount": amount(discount), "shipping_address_count": 1, "ebay_order_id": "0",
            "cart_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "billing_address": billing,
            "is_email_opt_in": rng.random() < 0.3, "credit_card_type": None, "order_source": "www",
            "channel_id": 1, "external_source": None, "external_id": None, "external_merchant_id": None,
            "tax_provider_id": "BasicTaxProvider", "store_default_currency_code": "USD",
            "store_default_to_transactional_exchange_rate": "1.0000000000", "custom_status": STATUS_NAMES[status_id],
            "customer_locale": "en", "external_order_id": "", "is_deleted": False,
            "fees": fees, "products": products, "shipping_addresses": [shipping_address], "coupons": coupons,
        }


def _statuses(count: int, rng: Random) -> list[int]:
    paid = round(count * PAID_SHARE)
    statuses = [rng.choice(PAID_STATUS_IDS) for _ in range(paid)]
    statuses += [UNPAID_STATUS_IDS[index % len(UNPAID_STATUS_IDS)] for index in range(count - paid)]
    rng.shuffle(statuses)
    return statuses


def sample_bigcommerce_orders(count: int = 24, *, seed: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` assembled V2 orders created over the 3 days before ``now`` (default: the real time), oldest first.

    About 75% are paid (status 11, 9, 2 or 10), the rest Awaiting Payment (7), Pending (1),
    Cancelled (5) or Incomplete (0). When there are enough: one unpaid order is Incomplete, one paid
    order is a guest's (``customer_id`` 0) and one has ``currency_code`` null (as orders created
    through the V2 API can). About 20% have a coupon, 35% an "Order Protection" fee. Money adds up:
    ``total_inc_tax = subtotal_ex_tax - discount + shipping + fees + total_tax``. Same arguments, same orders.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = Random(seed)
    end = to_second(now or utc_now())
    generator = _Generator(rng, end)
    window = int(WINDOW.total_seconds())
    created = sorted(end - timedelta(seconds=rng.randint(300, window)) for _ in range(count))
    statuses = _statuses(count, rng)
    paid = [i for i, s in enumerate(statuses) if s not in UNPAID_STATUS_IDS]
    unpaid = [i for i, s in enumerate(statuses) if s in UNPAID_STATUS_IDS]
    specials: dict[int, str] = {}
    if unpaid:
        index = next((i for i in unpaid if statuses[i] == 0), unpaid[0])
        statuses[index], specials[index] = 0, INCOMPLETE
    specials.update(zip(rng.sample(paid, min(2, len(paid))), (GUEST, NULL_CURRENCY), strict=False))
    orders: list[dict[str, Any]] = []
    order_id = FIRST_ORDER_ID
    for index in range(count):
        order_id += 1
        orders.append(generator.order(order_id, statuses[index], created[index], specials.get(index)))
    return orders


def order_with_lines(lines: int, *, order_id: int | None = None, seed: int = 3, now: datetime | None = None,
                     status_id: int = 11) -> dict[str, Any]:
    """One paid order with ``lines`` line items (each quantity 1), created a minute before ``now``."""
    rng = Random(seed)
    end = to_second(now or utc_now())
    generator = _Generator(rng, end)
    return generator.order(order_id or FIRST_ORDER_ID, status_id, end - timedelta(minutes=1), None, lines=lines)
