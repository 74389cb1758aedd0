"""BigCommerce V2 order JSON → canonical `Order` (pure; no I/O).

The input is the order as GET /v2/orders returns it (with `include=fees`), plus the arrays of
its sub-resources inlined under their own keys: `products` (/orders/{id}/products),
`shipping_addresses` (/orders/{id}/shipping_addresses) and `coupons` (/orders/{id}/coupons).
That is what the source assembles and what `preview --source bigcommerce` reads.

Facts from shared/research/bigcommerce.md: dates are RFC 2822 strings in UTC with second
precision; money is decimal strings of any precision ("150.0000", "924.47", "8"); the status
text can be renamed by the merchant, so the status is keyed on `status_id`; `customer_id` 0 is a
guest; `currency_code` (display currency) can be null; `date_shipped` is "" when unshipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from connector.orders import (
    Address,
    Coupon,
    Customer,
    Fee,
    Fulfilment,
    LineItem,
    MalformedOrder,
    Option,
    Order,
    money,
    quantity,
)

SOURCE = "bigcommerce"

#: system status ids and their labels as slugs (GET /order_statuses); the text itself is renameable
STATUS_SLUGS: dict[int, str] = {
    0: "incomplete",
    1: "pending",
    2: "shipped",
    3: "partially_shipped",
    4: "refunded",
    5: "cancelled",
    6: "declined",
    7: "awaiting_payment",
    8: "awaiting_pickup",
    9: "awaiting_shipment",
    10: "completed",
    11: "awaiting_fulfillment",
    12: "manual_verification_required",
    13: "disputed",
    14: "partially_refunded",
}
#: the same ids as `orders.Fulfilment`
FULFILMENT: dict[int, Fulfilment] = {
    0: "unpaid", 1: "unpaid", 7: "unpaid",
    12: "on_hold", 13: "on_hold",
    9: "unfulfilled", 11: "unfulfilled",
    3: "partially_shipped",
    2: "shipped", 10: "shipped",
    8: "awaiting_pickup",
    5: "cancelled", 6: "cancelled",
    4: "refunded",
    14: "other",  # partially refunded: says nothing of the shipping
}
SHIPPED_STATUS_IDS = frozenset({2, 10})
CANCELLED_STATUS_ID = 5

#: the store's `weight_units` (GET /v2/store) as the words destinations use
WEIGHT_UNITS = {"lbs": "pounds", "ounces": "ounces", "kgs": "kilograms", "grams": "grams", "tonnes": "tonnes"}

INLINED = ("products", "shipping_addresses", "coupons")


def rfc2822(value: Any, field: str, *, required: bool = False) -> datetime | None:
    """A BigCommerce date ("Tue, 05 Mar 2019 21:40:11 +0000") as aware UTC; "" and null are None."""
    if value in (None, ""):
        if required:
            raise MalformedOrder(f"{field} is missing")
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: year 1 with an offset
        raise MalformedOrder(f"{field} is not an RFC 2822 date: {value!r}") from None


def rfc2822_required(value: Any, field: str) -> datetime:
    moment = rfc2822(value, field, required=True)
    assert moment is not None
    return moment


def rfc2822_query(value: datetime) -> str:
    """A filter value: RFC 2822 in UTC to the second (requests encodes it once; never pre-encode)."""
    return format_datetime(value.astimezone(UTC).replace(microsecond=0))


def weight_unit(store_units: Any) -> str:
    text = str(store_units or "").strip()
    return WEIGHT_UNITS.get(text.lower(), text.lower())


def fulfilment(status: str, status_id: int | None) -> Fulfilment:
    """By `status_id`: the status text can be renamed by the merchant."""
    return FULFILMENT.get(status_id, "other") if status_id is not None else "other"


def status_id(raw: dict[str, Any]) -> int:
    value = raw.get("status_id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise MalformedOrder(f"status_id is not a status id: {value!r}")
    return int(value)


def parse_order(raw: dict[str, Any], *, store: str, default_currency: str, unit: str = "") -> Order:
    """The assembled order → `Order`. Raises `MalformedOrder` with the reason."""
    if not isinstance(raw, dict):
        raise MalformedOrder("the order is not a JSON object")
    if raw.get("id") in (None, ""):
        raise MalformedOrder("order has no id")
    products, addresses, coupons = (_inlined(raw, key) for key in INLINED)
    sid = status_id(raw)
    modified = rfc2822_required(raw.get("date_modified"), "date_modified")
    shipped = rfc2822(raw.get("date_shipped"), "date_shipped")
    billing = _address(raw.get("billing_address") or {}, "billing_address")
    shipping = _address(addresses[0], "shipping_addresses[0]") if addresses else None
    customer_id = raw.get("customer_id")
    return Order(
        source=SOURCE,
        store=store,
        id=str(raw["id"]),
        number=str(raw["id"]),
        status=STATUS_SLUGS.get(sid, f"status_{sid}"),
        status_id=sid,
        created_at=rfc2822_required(raw.get("date_created"), "date_created"),
        modified_at=modified,
        completed_at=shipped if sid in SHIPPED_STATUS_IDS else None,
        cancelled_at=modified if sid == CANCELLED_STATUS_ID else None,
        currency=_currency(raw, default_currency),
        total=money(raw.get("total_inc_tax"), "total_inc_tax", negative=False),
        subtotal=money(raw.get("subtotal_ex_tax"), "subtotal_ex_tax"),
        tax=money(raw.get("total_tax"), "total_tax"),
        shipping=money(raw.get("shipping_cost_ex_tax"), "shipping_cost_ex_tax"),
        shipping_tax=money(raw.get("shipping_cost_tax"), "shipping_cost_tax"),
        discount=max(money(raw.get("discount_amount"), "discount_amount"),
                     money(raw.get("coupon_discount"), "coupon_discount")),
        fees=_fees(raw),
        coupons=tuple(Coupon(code=str(c.get("code") or ""), discount=money(c.get("discount"), f"coupons[{i}].discount"))
                      for i, c in enumerate(coupons)),
        customer=Customer(
            id=str(customer_id) if customer_id not in (None, "", 0, "0") else None,
            email=billing.email or (shipping.email if shipping else ""),
            first_name=billing.first_name or (shipping.first_name if shipping else ""),
            last_name=billing.last_name or (shipping.last_name if shipping else ""),
            phone=billing.phone or (shipping.phone if shipping else ""),
            username=billing.email,
        ),
        billing=billing,
        shipping_address=None if shipping is None or shipping.is_empty else shipping,
        items=tuple(_item(p, i, unit) for i, p in enumerate(products)),
        payment_method=str(raw.get("payment_method") or ""),
        shipping_method=str(addresses[0].get("shipping_method") or "") if addresses else "",
        note=str(raw.get("customer_message") or ""),
        needs_shipping=not raw.get("order_is_digital") and bool(addresses),
    )


def _inlined(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if isinstance(value, dict) and "resource" in value:
        raise MalformedOrder(f"{key} is a link ({value.get('resource')}), not the data: inline the array that "
                             f"GET /v2{value.get('resource') or f'/orders/{{id}}/{key}'} returns")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise MalformedOrder(f"{key} is not an array of objects")
    return value


def _currency(raw: dict[str, Any], default: str) -> str:
    # `default_currency_code` is the transactional currency (what the amounts are in and what the
    # shopper paid); `currency_code` is the display currency and can be null.
    for key in ("default_currency_code", "currency_code"):
        value = str(raw.get(key) or "").strip().upper()
        if value:
            if len(value) != 3 or not value.isalpha():
                raise MalformedOrder(f"{key} is not an ISO 4217 code: {raw.get(key)!r}")
            return value
    return default.upper()


def _address(data: dict[str, Any], field: str) -> Address:
    if not isinstance(data, dict):
        raise MalformedOrder(f"{field} is not an object")

    def text(key: str) -> str:
        value = data.get(key)
        if isinstance(value, dict | list):
            raise MalformedOrder(f"{field}.{key} is not text: {type(value).__name__}")
        return "" if value is None else str(value).strip()

    return Address(
        first_name=text("first_name"), last_name=text("last_name"), company=text("company"),
        address_1=text("street_1"), address_2=text("street_2"), city=text("city"), state=text("state"),
        postcode=text("zip"), country=text("country_iso2").upper(), phone=text("phone"), email=text("email"),
    )


def _fees(raw: dict[str, Any]) -> tuple[Fee, ...]:
    fees: list[Fee] = []
    inlined = raw.get("fees")
    if inlined is not None and not isinstance(inlined, list) and not (isinstance(inlined, dict) and "resource" in inlined):
        raise MalformedOrder(f"fees is neither an array nor a link: {type(inlined).__name__}")
    if isinstance(inlined, list):  # `include=fees`; without it `fees` is a link object
        for i, fee in enumerate(inlined):
            if not isinstance(fee, dict):
                raise MalformedOrder(f"fees[{i}] is not an object")
            # the spec's own example spells it `cost_exc_tax` once
            ex_tax = fee.get("cost_ex_tax", fee.get("cost_exc_tax"))
            fees.append(Fee(name=str(fee.get("display_name_customer") or fee.get("display_name_merchant") or ""),
                            total=money(ex_tax, f"fees[{i}].cost_ex_tax"), tax=money(fee.get("cost_tax"), f"fees[{i}].cost_tax")))
    for name, prefix in (("Handling", "handling_cost"), ("Gift wrapping", "wrapping_cost")):
        total = money(raw.get(f"{prefix}_ex_tax"), f"{prefix}_ex_tax")
        if total:
            fees.append(Fee(name=name, total=total, tax=money(raw.get(f"{prefix}_tax"), f"{prefix}_tax")))
    return tuple(fees)


def _item(product: dict[str, Any], index: int, unit: str) -> LineItem:
    where = f"products[{index}]"
    count = quantity(product.get("quantity"), f"{where}.quantity")
    weight = product.get("weight")
    options = tuple(
        Option(name=str(o.get("display_name") or o.get("name") or ""), value=str(o.get("display_value") or o.get("value") or ""))
        for o in product.get("product_options") or [] if isinstance(o, dict)
    )
    return LineItem(
        id=str(product.get("id") if product.get("id") is not None else index),
        name=str(product.get("name_customer") or product.get("name") or ""),
        quantity=count,
        unit_price=money(product.get("price_ex_tax"), f"{where}.price_ex_tax"),
        total=money(product.get("total_ex_tax"), f"{where}.total_ex_tax"),
        tax=money(product.get("total_tax"), f"{where}.total_tax"),
        sku=str(product.get("sku") or ""),
        product_id=_id(product.get("product_id")),
        variant_id=_id(product.get("variant_id")),
        options=options,
        weight=None if weight in (None, "") else money(weight, f"{where}.weight"),
        weight_unit=unit if weight not in (None, "") else "",
        upc=str(product.get("upc") or ""),
    )


def _id(value: Any) -> str | None:
    """A catalogue id; 0 (a custom product) and null are none."""
    if value in (None, "", 0, "0"):
        return None
    return str(value)

