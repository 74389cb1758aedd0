"""sonarID: POST {SONARID_URL}/api/v1/orders (shared/api-docs/sonarid-orders-api.txt).

Required: email, firstName, lastName. `order.id` is `Order.platform_key`, `wc_<id>` / `bc_<id>` (the
docs' own example; the prefix is each source's declared short code), which sonarID deduplicates on, so
every retry is safe.

sonarID answers 400 to an e-mail that "is invalid", and the e-mail is required, so an order whose
e-mail is not an address by syntax (connector.formats.email_error: email-validator, no DNS lookup) is
skipped with the reason rather than sent to fail. The codes (address.state, address.country,
order.currency) are left out when the order has none, never sent as "".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from connector.adapters import Reader, Secret, Spec
from connector.destinations.base import Answer, Destination, Skip, json_body, words
from connector.formats import amount_string, e164, email_address, email_error
from connector.orders import Order


@dataclass(frozen=True)
class SonarIDSettings:
    api_key: Secret
    url: str = "https://sonarid.com"


def from_env(r: Reader) -> SonarIDSettings | None:
    key = r.secret("SONARID_API_KEY")
    if key is None:
        return None
    return SonarIDSettings(api_key=key, url=r.url("SONARID_URL", "https://sonarid.com") or "https://sonarid.com")


def order_key(order: Order) -> str:
    return order.platform_key  # "wc_727": the source's short code and the platform's order id


class SonarID(Destination):
    name = "sonarid"
    settings: SonarIDSettings

    def build(self, order: Order) -> dict[str, Any]:
        billing, shipping = order.billing, order.shipping_address
        given = [e.strip() for e in (order.customer.email, billing.email) if e.strip()]
        email = email_address(*given) or (given[0] if given else "")
        first = billing.first_name or (shipping.first_name if shipping else "") or order.customer.first_name
        last = billing.last_name or (shipping.last_name if shipping else "") or order.customer.last_name
        missing = [name for name, value in (("email", email), ("firstName", first), ("lastName", last)) if not value.strip()]
        if missing:
            raise Skip(f"sonarID requires {', '.join(missing)}, which the order does not have")
        problem = email_error(email)
        if problem:
            raise Skip(f"sonarID requires a valid email and refuses the order's: {problem}")
        place = billing if billing.city or billing.country else (shipping or billing)
        phone = e164(billing.phone or order.customer.phone, billing.country or place.country) or (
            e164(shipping.phone, shipping.country) if shipping else None)

        payload: dict[str, Any] = {
            "email": email,
            "firstName": first.strip(),
            "lastName": last.strip(),
        }
        if phone:
            payload["phone"] = phone
        address = {key: value for key, value in (
            ("city", place.city),
            ("state", place.state),
            ("zipcode", place.postcode),
            ("country", place.country.upper()),
        ) if value}
        if address:
            payload["address"] = address
        payload["order"] = {
            "id": order_key(order),
            "number": order.number,
        }
        if order.priced:  # a free sample (SoPost) carries no money: none is sent
            payload["order"]["total"] = amount_string(order.total, order.currency)
        if order.currency.strip():
            payload["order"]["currency"] = order.currency.strip().upper()
        return payload

    def endpoint(self) -> str:
        return f"{self.settings.url}/api/v1/orders"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Authorization": f"Bearer {self.settings.api_key}"}

    def read(self, response: httpx.Response) -> Answer:
        is_json, body = json_body(response)
        reference = body.get("orderId") or body.get("customerId") if isinstance(body, dict) else None
        return Answer(reference=reference, message=words(response, is_json, body))


SPEC = Spec(
    kind="destination",
    name="sonarid",
    title="sonarID",
    adapter=SonarID,
    from_env=from_env,
    enable_variables=("SONARID_API_KEY",),
    credential_variables=("SONARID_API_KEY",),
    url_variables=("SONARID_URL",),
    preview_settings=lambda: SonarIDSettings(api_key=Secret("preview")),
)
