"""OrderProtection: POST {ORDERPROTECTION_URL}/v1/orders (shared/api-docs/orderprotection-orders-api.txt).

Bearer token; success is 201 {"status": "ok"} (no id comes back, so a delivery keeps no reference).
`sourceOrderId` is the platform's order id, the key OrderProtection knows the order by, so a resend
after a crash names the same order.

Money goes out as JSON numbers carrying the exact Decimal (connector.wire). The shipping-protection
premium, which stores collect as a fee line named in ORDERPROTECTION_PREMIUM_FEE_NAMES (compared
case-insensitively, whole name), is `premiumPaid` = those fees' amounts *with their tax*, and is
taken out of the order's figures so that the totals describe the goods alone:

- `total`    = the order total − premiumPaid (so total + premiumPaid is what the customer paid);
- `tax`      = the order's tax − the tax charged on the premium fees;
- `subtotal` = the line items before discounts (a fee is never part of it);
- `discountTotal`, `shippingCost`, `shippingCostTax` never contain a fee.
Other fees (gift wrap, handling) stay in `total`.

`customerEmail` is optional in the document, so an e-mail that is not an address by syntax
(connector.formats.email_error: email-validator, no DNS lookup) is left out and the order still goes;
`tags` (free-form, "test,this,out" in the document) carries the platform's tags and, for a Voyado member,
`voyado-member` and `voyado-level-<level>` (connector.lookups.voyado; its deliveries wait VOYADO_WAIT at most).
the order is not skipped for it. An optional field the order has no value for, the codes among them
(address.country, address.state), is left out, never sent as "".

Documented fields the platforms cannot supply, so never sent: originalSourceOrderNumber (a replacement's
original order), premiumCost and premiumDiscount (OrderProtection's own pricing), riskLevel (neither
platform's order API carries a fraud level).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector.adapters import Reader, Secret, Spec
from connector.destinations.base import Destination, Skip
from connector.destinations.schema import Field, Kind, check
from connector.formats import email_address, iso_millis, phone_dashes
from connector.orders import Address, LineItem, Order

VENDOR = "OrderProtection"
PLATFORMS = frozenset({"shopify", "woocommerce", "magento", "bigcommerce", "api"})  # the `platformId` enum

# The `currency` enum, verbatim from the document (it lists historical codes and lacks a few current ones,
# e.g. SLE, VED, ZWG; an order in a currency not listed is skipped, not sent to fail).
CURRENCIES = frozenset(["ADP", "AED", "AFA", "AFN", "ALK", "ALL", "AMD", "ANG", "AOA", "AOK", "AON", "AOR", "ARA", "ARP", "ARS", "ARY", "ATS", "AUD", "AWG", "AYM", "AZM", "AZN", "BAD", "BAM", "BBD", "BDT", "BEC", "BEF", "BEL", "BGJ", "BGK", "BGL", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOP", "BOV", "BRB", "BRC", "BRE", "BRL", "BRN", "BRR", "BSD", "BTN", "BUK", "BWP", "BYB", "BYN", "BYR", "BZD", "CAD", "CDF", "CHC", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CSD", "CSJ", "CSK", "CUC", "CUP", "CVE", "CYP", "CZK", "DDM", "DEM", "DJF", "DKK", "DOP", "DZD", "ECS", "ECV", "EEK", "EGP", "ERN", "ESA", "ESB", "ESP", "ETB", "EUR", "FIM", "FJD", "FKP", "FRF", "GBP", "GEK", "GEL", "GHC", "GHP", "GHS", "GIP", "GMD", "GNE", "GNF", "GNS", "GQE", "GRD", "GTQ", "GWE", "GWP", "GYD", "HKD", "HNL", "HRD", "HRK", "HTG", "HUF", "IDR", "IEP", "ILP", "ILR", "ILS", "INR", "IQD", "IRR", "ISJ", "ISK", "ITL", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAJ", "LAK", "LBP", "LKR", "LRD", "LSL", "LSM", "LTL", "LTT", "LUC", "LUF", "LUL", "LVL", "LVR", "LYD", "MAD", "MDL", "MGA", "MGF", "MKD", "MLF", "MMK", "MNT", "MOP", "MRO", "MRU", "MTL", "MTP", "MUR", "MVQ", "MVR", "MWK", "MXN", "MXP", "MXV", "MYR", "MZE", "MZM", "MZN", "NAD", "NGN", "NIC", "NIO", "NLG", "NOK", "NPR", "NZD", "OMR", "PAB", "PEH", "PEI", "PEN", "PES", "PGK", "PHP", "PKR", "PLN", "PLZ", "PTE", "PYG", "QAR", "RHD", "ROK", "ROL", "RON", "RSD", "RUB", "RUR", "RWF", "SAR", "SBD", "SCR", "SDD", "SDG", "SDP", "SEK", "SGD", "SHP", "SIT", "SKK", "SLL", "SOS", "SRD", "SRG", "SSP", "STD", "STN", "SUR", "SVC", "SYP", "SZL", "THB", "TJR", "TJS", "TMM", "TMT", "TND", "TOP", "TPE", "TRL", "TRY", "TTD", "TWD", "TZS", "UAH", "UAK", "UGS", "UGW", "UGX", "USD", "USN", "USS", "UYI", "UYN", "UYP", "UYU", "UYW", "UZS", "VEB", "VEF", "VES", "VNC", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XDR", "XEU", "XFO", "XFU", "XOF", "XPD", "XPF", "XPT", "XRE", "XSU", "XTS", "XUA", "XXX", "YDD", "YER", "YUD", "YUM", "YUN", "ZAL", "ZAR", "ZMK", "ZMW", "ZRN", "ZRZ", "ZWC", "ZWD", "ZWL", "ZWN", "ZWR"])  # noqa: E501 - the document's list, verbatim

# The request body as documented: required fields and types, in the document's example order.
ORDER_ITEM = {
    "productName": Field(Kind.STRING),
    "productUrl": Field(Kind.STRING),
    "productImage": Field(Kind.STRING),
    "sku": Field(Kind.STRING),
    "quantity": Field(Kind.NUMBER),
    "price": Field(Kind.NUMBER),
    "sourceItemId": Field(Kind.STRING),
    "sourceProductId": Field(Kind.STRING),
    "sourceVariantId": Field(Kind.STRING),
    "description": Field(Kind.STRING),
}
ADDRESS = {
    "firstName": Field(Kind.STRING),
    "lastName": Field(Kind.STRING),
    "address1": Field(Kind.STRING),
    "address2": Field(Kind.STRING),
    "city": Field(Kind.STRING),
    "state": Field(Kind.STRING),
    "zip": Field(Kind.STRING),
    "country": Field(Kind.STRING),
}
REQUEST = {
    "sourceOrderId": Field(Kind.STRING, required=True),
    "originalSourceOrderNumber": Field(Kind.STRING),
    "sourceOrderNumber": Field(Kind.STRING),
    "sourceCreatedAt": Field(Kind.STRING, required=True),
    "sourceUpdatedAt": Field(Kind.STRING),
    "sourceCancelledAt": Field(Kind.STRING),
    "platformId": Field(Kind.STRING, required=True, choices=PLATFORMS),
    "premiumPaid": Field(Kind.NUMBER),
    "premiumCost": Field(Kind.NUMBER),
    "premiumDiscount": Field(Kind.NUMBER),
    "riskLevel": Field(Kind.STRING),
    "currency": Field(Kind.STRING, required=True, choices=CURRENCIES),
    "total": Field(Kind.NUMBER, required=True),
    "discountTotal": Field(Kind.NUMBER),
    "shippingCost": Field(Kind.NUMBER),
    "tax": Field(Kind.NUMBER),
    "subtotal": Field(Kind.NUMBER, required=True),
    "customerEmail": Field(Kind.STRING),
    "customerName": Field(Kind.STRING),
    "customerPhone": Field(Kind.STRING),
    "shippingCostTax": Field(Kind.NUMBER),
    "orderItems": Field(Kind.ARRAY, required=True, fields=ORDER_ITEM),
    "address": Field(Kind.OBJECT, required=True, fields=ADDRESS),
    "tags": Field(Kind.STRING),
}


@dataclass(frozen=True)
class OrderProtectionSettings:
    api_token: Secret
    url: str = "https://api.production.orderprotection.com"
    premium_fee_names: tuple[str, ...] = ("order protection", "shipping protection")


def from_env(r: Reader) -> OrderProtectionSettings | None:
    token = r.secret("ORDERPROTECTION_API_TOKEN")
    if token is None:
        return None
    default = "https://api.production.orderprotection.com"
    names = tuple(n.lower() for n in r.words("ORDERPROTECTION_PREMIUM_FEE_NAMES", ("order protection", "shipping protection")))
    return OrderProtectionSettings(api_token=token, url=r.url("ORDERPROTECTION_URL", default) or default, premium_fee_names=names)


def platform_id(order: Order) -> str:
    return order.platform if order.platform in PLATFORMS else "api"


def description(item: LineItem) -> str:
    """The variation options as the docs write them: "Variant: White Oak. Size: 10'x10'"."""
    return ". ".join(f"{option.name}: {option.value}" for option in item.options if option.name and option.value)


def customer_name(order: Order) -> str:
    """The billing name, else the shipping name, else the customer account's name."""
    customer = " ".join(p for p in (order.customer.first_name, order.customer.last_name) if p)
    shipping = order.shipping_address.name if order.shipping_address else ""
    return (order.billing.name or shipping or customer).strip()


def tags(order: Order) -> str:
    """The platform's tags, then the loyalty membership's ("voyado-member,voyado-level-gold"), comma-separated."""
    loyalty = order.loyalty.tags() if order.loyalty else ()
    return ",".join(tag.strip() for tag in (*order.tags, *loyalty) if tag.strip())


def compact(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields that have a value (an optional field the order cannot fill is left out, not sent empty)."""
    return {name: value for name, value in fields.items() if value is not None and value != ""}


class OrderProtection(Destination):
    name = "orderprotection"
    uses_loyalty = True  # `tags`, the document's one free-form field
    settings: OrderProtectionSettings

    def premium(self, order: Order) -> tuple[Decimal, Decimal]:
        """(premium paid with its tax, the tax part) from the fee lines named as the premium."""
        fees = [fee for fee in order.fees if fee.name.strip().lower() in self.settings.premium_fee_names]
        tax = sum((fee.tax for fee in fees), Decimal("0"))
        return sum((fee.total for fee in fees), Decimal("0")) + tax, tax

    def build(self, order: Order) -> dict[str, Any]:
        if not order.priced:
            raise Skip(f"{VENDOR} protects what an order cost; a free sample ({order.source}) carries no money")
        currency = order.currency.upper()
        if currency not in CURRENCIES:
            raise Skip(f"{VENDOR} does not accept currency {currency} (not in its documented currency list)")
        premium, premium_tax = self.premium(order)
        billing = order.billing
        payload = compact({
            "sourceOrderId": order.id,
            "sourceOrderNumber": order.number,
            "sourceCreatedAt": iso_millis(order.created_at),
            "sourceUpdatedAt": iso_millis(order.modified_at),
            "sourceCancelledAt": iso_millis(order.cancelled_at),
            "platformId": platform_id(order),
            "premiumPaid": premium if premium else None,
            "currency": currency,
            "total": order.total - premium,
            "discountTotal": order.discount,
            "shippingCost": order.shipping,
            "tax": order.tax - premium_tax,
            "subtotal": order.subtotal,
            "customerEmail": email_address(order.customer.email, billing.email),
            "customerName": customer_name(order),
            "customerPhone": self.phone(order),
            "shippingCostTax": order.shipping_tax,
            "orderItems": [self.item(item) for item in order.items],
            "address": self.address(order.shipping_address if order.shipping_address else billing),
            "tags": tags(order),
        })
        check(payload, REQUEST, VENDOR)
        return payload

    def item(self, item: LineItem) -> dict[str, Any]:
        return compact({
            "productName": item.name,
            "productUrl": item.url,
            "productImage": item.image_url,
            "sku": item.sku,
            "quantity": item.quantity,
            "price": item.unit_price,
            "sourceItemId": item.id,
            "sourceProductId": item.product_id,
            "sourceVariantId": item.variant_id,
            "description": description(item),
        })

    def address(self, address: Address) -> dict[str, Any]:
        return compact({
            "firstName": address.first_name,
            "lastName": address.last_name,
            "address1": address.address_1,
            "address2": address.address_2,
            "city": address.city,
            "state": address.state,
            "zip": address.postcode,
            "country": address.country.upper(),
        })

    @staticmethod
    def phone(order: Order) -> str | None:
        """The docs' form, "+1-555-796-3644": billing phone, else the customer's, else the shipping phone."""
        billing, shipping = order.billing, order.shipping_address
        country = billing.country or (shipping.country if shipping else "")
        return (phone_dashes(billing.phone or order.customer.phone, country)
                or (phone_dashes(shipping.phone, shipping.country) if shipping else None))

    def endpoint(self) -> str:
        return f"{self.settings.url}/v1/orders"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Authorization": f"Bearer {self.settings.api_token}"}


SPEC = Spec(
    kind="destination",
    name="orderprotection",
    title="OrderProtection",
    adapter=OrderProtection,
    from_env=from_env,
    enable_variables=("ORDERPROTECTION_API_TOKEN",),
    credential_variables=("ORDERPROTECTION_API_TOKEN",),
    url_variables=("ORDERPROTECTION_URL",),
    preview_settings=lambda: OrderProtectionSettings(api_token=Secret("preview")),
)
