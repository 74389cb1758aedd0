"""Sophio: POST {SOPHIO_STORE_URL}/createorder.wws?action=CREATE&authentication=<base64(key:secret)>
(shared/api-docs/sophio-createorder-api.txt).

The query string is a credential: it is registered with connector.redaction (config registers the
base64 pair; the exact form put in the URL is registered here too) and `authentication=` is masked by
name, so it never reaches a log line, an error, the ledger, a cassette or `status`.

Sophio fulfils goods, so only orders that still need shipping go there: by default those whose
fulfilment state (`Order.fulfilment`, each source's reading of its own statuses) is unfulfilled or
partially shipped; when SOPHIO_STATUSES is set, those whose platform status slug is in it instead. The
order must also have something to ship (Order.needs_shipping); the others are skipped with the reason.
`orderKey` is `<source code>-<store>-<order id>` (`wc-…`, `bc-…`): stable and unique per store and
order, so Sophio recognises a resend. Sophio's answer echoes the order with its `orderId`, which the
delivery keeps as its reference.

What the document leaves open, and what we chose:
- It marks no field as required. We require what a fulfilment order cannot go without: orderNumber,
  orderKey, orderDate, orderStatus, a shipTo with name, street1, city and country, and at least one
  item, each with name and quantity. An order is skipped only when it has nothing to ship or no ship-to
  address.
- An item is sent with what the platform has: its lineItemKey, name, quantity, unitPrice and, when it
  has them, sku/fulfillmentSku and productId. A product without a SKU, or deleted since the order
  (`sku: null`, product id 0), goes out without `sku` and `fulfillmentSku` (and without `productId`),
  identified by lineItemKey and name, as Sophio's own answer shows an item with `productId: null`;
  nothing is invented in their place. The document has no variant field: a variation's attributes go
  in `options`.
- Codes are left out when the order has none, never sent as "": an address's `country` and `state`
  (billTo.country is then absent; shipTo.country is required, so a ship-to without a country skips).
  The other empty strings stay, as in the document's sample (`company`, `street2`, `upc`, ...).
- customerEmail is optional: an e-mail that is not an address by syntax (connector.formats.email_error:
  email-validator, no DNS lookup) is left out, and customerUsername with it when it is that same
  e-mail; the order is not skipped for it.
- Dates are written like its sample ("2018-07-17T12:08:06"), in UTC (the document names no zone).
- Item `taxAmount` is the line's tax (the document does not say per unit or per line); item
  `shippingAmount` is 0 because both platforms charge shipping per order, which goes in the order's
  `shippingAmount` (as in the sample).
- `residential` is true when the address has no company (the platforms do not record it).
- Weight `units`: the document shows "pounds" and "ounces"; kilograms and grams are converted to them.
  The order's `weight` is the sum of the lines' weights × quantities (sent only when every line has one).
- `AdvancedOptions` carries the platform in customField1 and the platform's order id in customField2, and the
  customer's Voyado membership in customField3 ("voyado-member,voyado-level-gold", left out for a non-member).
  Why customField3: it is Sophio's free-form field (the answer's advancedOptions echoes customField1-3; the
  request sample shows 1 and 2); customField1 and 2 already carry the platform and order id, which a store may
  rely on; customerNotes is the customer's own note; internalNotes appears only in the answer; tagIds are
  Sophio's numeric tag ids, not free text.
Documented fields the platforms cannot supply, so never sent: shipByDate, warehouseLocation, carrierCode,
serviceCode, packageCode, confirmation, shipDate, the order's dimensions, tagIds and the other
AdvancedOptions (warehouseId, source, storeId, containsAlcohol, billTo*). There is no currency field.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import httpx

from connector import redaction
from connector.adapters import Reader, Secret, Spec
from connector.destinations.base import Answer, Destination, Skip, json_body, words
from connector.destinations.schema import Field, Kind, check
from connector.formats import email_address, email_error, iso_seconds
from connector.orders import TO_SHIP, Address, LineItem, Order

VENDOR = "Sophio"
ORDER_STATUS = "awaiting_shipment"  # a paid order waiting to be shipped
WEIGHT_UNITS = frozenset({"pounds", "ounces"})
POUND_KG = Decimal("0.45359237")  # exact, by definition
OUNCE_G = Decimal("28.349523125")  # exact, by definition
_UNIT_NAMES: dict[str, tuple[str, Decimal | None]] = {  # platform unit → (Sophio unit, divide by)
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), ("pounds", None)),
    **dict.fromkeys(("oz", "ounce", "ounces"), ("ounces", None)),
    **dict.fromkeys(("kg", "kgs", "kilogram", "kilograms"), ("pounds", POUND_KG)),
    **dict.fromkeys(("g", "gram", "grams"), ("ounces", OUNCE_G)),
}

# The request as documented (types from the sample request); `required` is our reading (module docstring).
ADDRESS = {
    "name": Field(Kind.STRING),
    "company": Field(Kind.STRING),
    "street1": Field(Kind.STRING),
    "street2": Field(Kind.STRING),
    "street3": Field(Kind.STRING),
    "city": Field(Kind.STRING),
    "state": Field(Kind.STRING),
    "postalCode": Field(Kind.STRING),
    "country": Field(Kind.STRING),
    "phone": Field(Kind.STRING),
    "residential": Field(Kind.BOOLEAN),
}
SHIP_TO = {**ADDRESS, **{name: Field(Kind.STRING, required=True) for name in ("name", "street1", "city", "country")}}
WEIGHT = {"value": Field(Kind.NUMBER, required=True), "units": Field(Kind.STRING, required=True, choices=WEIGHT_UNITS)}
OPTION = {"name": Field(Kind.STRING), "value": Field(Kind.STRING)}
ITEM = {
    "lineItemKey": Field(Kind.STRING),
    "sku": Field(Kind.STRING),
    "name": Field(Kind.STRING, required=True),
    "imageUrl": Field(Kind.STRING),
    "weight": Field(Kind.OBJECT, fields=WEIGHT),
    "quantity": Field(Kind.INTEGER, required=True),
    "unitPrice": Field(Kind.NUMBER),
    "taxAmount": Field(Kind.NUMBER),
    "shippingAmount": Field(Kind.NUMBER),
    "warehouseLocation": Field(Kind.STRING),
    "options": Field(Kind.ARRAY, fields=OPTION),
    "productId": Field(Kind.INTEGER),
    "fulfillmentSku": Field(Kind.STRING),
    "adjustment": Field(Kind.BOOLEAN),
    "upc": Field(Kind.STRING),
}
ADVANCED_OPTIONS = {
    "warehouseId": Field(Kind.STRING),
    "source": Field(Kind.STRING),
    "storeId": Field(Kind.STRING),
    "containsAlcohol": Field(Kind.BOOLEAN),
    "customField1": Field(Kind.STRING),
    "customField2": Field(Kind.STRING),
    "customField3": Field(Kind.STRING),  # in the answer's advancedOptions (null there); our loyalty field
    "billToParty": Field(Kind.STRING),
    "billToAccount": Field(Kind.STRING),
    "billToPostalCode": Field(Kind.STRING),
    "billToCountryCode": Field(Kind.STRING),
}
REQUEST = {
    "orderNumber": Field(Kind.STRING, required=True),
    "orderKey": Field(Kind.STRING, required=True),
    "orderDate": Field(Kind.STRING, required=True),
    "paymentDate": Field(Kind.STRING),
    "shipByDate": Field(Kind.STRING),
    "orderStatus": Field(Kind.STRING, required=True),
    "customerId": Field(Kind.INTEGER),
    "customerUsername": Field(Kind.STRING),
    "customerEmail": Field(Kind.STRING),
    "billTo": Field(Kind.OBJECT, fields=ADDRESS),
    "shipTo": Field(Kind.OBJECT, required=True, fields=SHIP_TO),
    "items": Field(Kind.ARRAY, required=True, fields=ITEM),
    "amountPaid": Field(Kind.NUMBER),
    "taxAmount": Field(Kind.NUMBER),
    "shippingAmount": Field(Kind.NUMBER),
    "customerNotes": Field(Kind.STRING),
    "paymentMethod": Field(Kind.STRING),
    "requestedShippingService": Field(Kind.STRING),
    "carrierCode": Field(Kind.STRING),
    "serviceCode": Field(Kind.STRING),
    "packageCode": Field(Kind.STRING),
    "confirmation": Field(Kind.STRING),
    "shipDate": Field(Kind.STRING),
    "weight": Field(Kind.OBJECT, fields=WEIGHT),
    "dimensions": Field(Kind.OBJECT, fields={name: Field(Kind.NUMBER) for name in ("length", "width", "height")}
                        | {"units": Field(Kind.STRING)}),
    "AdvancedOptions": Field(Kind.OBJECT, fields=ADVANCED_OPTIONS),
    "tagIds": Field(Kind.ARRAY),
}


@dataclass(frozen=True)
class SophioSettings:
    store_url: str
    api_key: Secret
    api_secret: Secret
    statuses: tuple[str, ...] = ()  # platform status slugs; none: by the order's fulfilment state (TO_SHIP)


def from_env(r: Reader) -> SophioSettings | None:
    if not r.all_or_none(("SOPHIO_STORE_URL", "SOPHIO_API_KEY", "SOPHIO_API_SECRET"), "Sophio"):
        return None
    key, secret = r.secret("SOPHIO_API_KEY"), r.secret("SOPHIO_API_SECRET")
    redaction.register_pair(key, secret)
    assert key is not None and secret is not None
    return SophioSettings(
        store_url=r.url("SOPHIO_STORE_URL") or "",
        api_key=key,
        api_secret=secret,
        statuses=r.words("SOPHIO_STATUSES", SophioSettings.statuses),
    )


def order_key(order: Order) -> str:
    return f"{order.source_code}-{order.store}-{order.id}"


def authentication(key: str, secret: str) -> str:
    """The `authentication` query value: base64 of "key:secret", '+' escaped, '=' and '/' kept as in the docs."""
    return quote(base64.b64encode(f"{key}:{secret}".encode()).decode(), safe="=/")


def integer(value: str | None) -> int | None:
    """A platform id as the JSON integer the document shows; None when it is not a whole number."""
    return int(value) if value and value.strip().isdigit() else None


def weight(item: LineItem) -> dict[str, Any] | None:
    """{"value": 0.37, "units": "pounds"}; None when the platform gave no weight or a unit we cannot name."""
    if item.weight is None or not item.weight_unit:
        return None
    unit = _UNIT_NAMES.get(item.weight_unit.strip().lower())
    if unit is None:
        return None
    units, divisor = unit
    value = item.weight if divisor is None else (item.weight / divisor).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    return {"value": value, "units": units}


def order_weight(order: Order) -> dict[str, Any] | None:
    """The order's weight: the sum of its lines' weights × quantities, in the lines' Sophio unit (ounces when
    they differ); None unless every line has a weight, since a partial sum would understate the parcel."""
    weights = [(weight(item), item.quantity) for item in order.items if item.quantity]
    if not weights or any(w is None for w, _ in weights):
        return None
    units = {w["units"] for w, _ in weights if w is not None}
    unit = units.pop() if len(units) == 1 else "ounces"
    total = sum(((w["value"] * (16 if unit == "ounces" and w["units"] == "pounds" else 1)) * quantity
                 for w, quantity in weights if w is not None), Decimal("0"))
    return {"value": total, "units": unit}


def loyalty(order: Order) -> str | None:
    """customField3: the Voyado membership as OrderProtection's tags say it ("voyado-member,voyado-level-gold");
    None (left out) for an order whose customer is not a member or was not looked up."""
    tags = order.loyalty.tags() if order.loyalty else ()
    return ",".join(tags) or None


def status_slug(status: str) -> str:
    """"Awaiting Fulfillment", "awaiting-fulfillment" and "awaiting_fulfillment" are the same status."""
    return "_".join(status.strip().lower().replace("-", " ").replace("_", " ").split())


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """Leave out what the order has no value for (None); empty strings stay, as in the document's sample."""
    return {name: value for name, value in fields.items() if value is not None}


class Sophio(Destination):
    name = "sophio"
    uses_loyalty = True  # AdvancedOptions.customField3
    settings: SophioSettings

    def __init__(self, settings: SophioSettings) -> None:
        super().__init__(settings)
        # the credential as it travels, also when the settings were not read by config.load
        redaction.register_secret(base64.b64encode(f"{settings.api_key}:{settings.api_secret}".encode()).decode())
        redaction.register_secret(authentication(settings.api_key, settings.api_secret))  # the URL's escaped form

    def eligible(self, order: Order) -> None:
        statuses = {status_slug(status) for status in self.settings.statuses}
        if statuses and status_slug(order.status) not in statuses:
            raise Skip(f"{VENDOR} fulfils goods still to ship: status {order.status!r} is not in SOPHIO_STATUSES "
                       f"({', '.join(self.settings.statuses)})")
        if not statuses and order.fulfilment not in TO_SHIP:
            raise Skip(f"{VENDOR} fulfils goods still to ship: status {order.status!r} is not in SOPHIO_STATUSES "
                       f"(not set, so the orders still {' or '.join(sorted(s.replace('_', ' ') for s in TO_SHIP))}; "
                       f"this one is {order.fulfilment.replace('_', ' ')})")
        if not order.needs_shipping:
            raise Skip(f"{VENDOR} fulfils goods still to ship: the order needs no shipping")

    def build(self, order: Order) -> dict[str, Any]:
        self.eligible(order)
        customer, billing = order.customer, order.billing
        email = email_address(customer.email, billing.email)
        payload = present({
            "orderNumber": order.number,
            "orderKey": order_key(order),
            "orderDate": iso_seconds(order.created_at),
            "paymentDate": iso_seconds(order.paid_at),
            "orderStatus": ORDER_STATUS,
            "customerId": integer(customer.id),
            "customerUsername": self.username(order) or email,
            "customerEmail": email,
            "billTo": self.address(billing),
            "shipTo": self.ship_to(order),
            "items": [self.item(item) for item in order.items],
            "amountPaid": order.total,
            "taxAmount": order.tax,
            "shippingAmount": order.shipping,
            "customerNotes": order.note,
            "paymentMethod": order.payment_method,
            "requestedShippingService": order.shipping_method,
            "weight": order_weight(order),
            "AdvancedOptions": present({
                "customField1": order.source,
                "customField2": order.id,
                "customField3": loyalty(order),
            }),
        })
        check(payload, REQUEST, VENDOR)
        return payload

    @staticmethod
    def username(order: Order) -> str | None:
        """The customer's username, unless it is the order's e-mail and that is not an address."""
        username = order.customer.username.strip()
        given = {e.strip() for e in (order.customer.email, order.billing.email)}
        return None if not username or (username in given and email_error(username)) else username

    def ship_to(self, order: Order) -> dict[str, Any]:
        """The shipping address; a parcel needs a name on it, so a nameless one takes the billing or customer name."""
        address = self.address(order.shipping_address or order.billing)
        if not address.get("name", "").strip():
            address["name"] = order.billing.name or " ".join(
                p for p in (order.customer.first_name, order.customer.last_name) if p)
        return address

    def address(self, address: Address) -> dict[str, Any]:
        return present({
            "name": address.name,
            "company": address.company,
            "street1": address.address_1,
            "street2": address.address_2,
            "street3": address.address_3,
            "city": address.city,
            "state": address.state.strip() or None,  # a code: left out when empty, like country
            "postalCode": address.postcode,
            "country": address.country.strip().upper() or None,
            "phone": address.phone,
            "residential": not address.company,
        })

    def item(self, item: LineItem) -> dict[str, Any]:
        return present({
            "lineItemKey": item.id,
            "sku": item.sku.strip() or None,
            "name": item.name,
            "imageUrl": item.image_url,
            "weight": weight(item),
            "quantity": item.quantity,
            "unitPrice": item.unit_price,
            "taxAmount": item.tax,
            "shippingAmount": Decimal("0"),
            "options": [{"name": option.name, "value": option.value} for option in item.options],
            "productId": integer(item.product_id),
            "fulfillmentSku": item.sku.strip() or None,
            "adjustment": False,
            "upc": item.upc,
        })

    def endpoint(self) -> str:
        return (f"{self.settings.store_url}/createorder.wws?action=CREATE"
                f"&authentication={authentication(self.settings.api_key, self.settings.api_secret)}")

    def read(self, response: httpx.Response) -> Answer:
        """A 2xx that does not echo the order with an `orderId` is not a created order (the docs' answer)."""
        is_json, body = json_body(response)
        order_id = body.get("orderId") if isinstance(body, dict) else None
        reference = None if order_id in (None, "") else str(order_id)
        return Answer(accepted=False if response.is_success and reference is None else None, reference=reference,
                      message=words(response, is_json, body))


SPEC = Spec(
    kind="destination",
    name="sophio",
    title="Sophio",
    adapter=Sophio,
    from_env=from_env,
    enable_variables=("SOPHIO_STORE_URL", "SOPHIO_API_KEY", "SOPHIO_API_SECRET"),
    credential_variables=("SOPHIO_API_KEY", "SOPHIO_API_SECRET"),
    url_variables=("SOPHIO_STORE_URL",),
    url_setting="store_url",
    preview_settings=lambda: SophioSettings(store_url="https://store.invalid", api_key=Secret("preview"),
                                            api_secret=Secret("preview")),
)
