"""`preview`: the exact payload a destination would be sent for one platform order. No network.

An order `poll` would never send, because its status is not one of the source's configured statuses
(WOOCOMMERCE_STATUSES, BIGCOMMERCE_STATUS_IDS; their defaults when the source is not configured), is
refused with the reason (exit 2) unless `any_status` asks for the payload anyway."""

from __future__ import annotations

from typing import Any

from connector.config import (
    BigCommerceSettings,
    OrderProtectionSettings,
    Secret,
    Settings,
    SonarIDSettings,
    SophioSettings,
    WooCommerceSettings,
)
from connector.destinations import destination_class
from connector.destinations.base import Skip
from connector.errors import BadInput
from connector.orders import MalformedOrder, Order
from connector.sources import source_class


class PreviewError(BadInput):
    pass


def _placeholder_settings(name: str) -> Any:
    if name == "woocommerce":
        return WooCommerceSettings(url="https://store.invalid", consumer_key=Secret("ck_preview"),
                                   consumer_secret=Secret("cs_preview"))
    if name == "bigcommerce":
        return BigCommerceSettings(store_hash="preview", access_token=Secret("preview"), client_id=None)
    if name == "sonarid":
        return SonarIDSettings(api_key=Secret("preview"))
    if name == "orderprotection":
        return OrderProtectionSettings(api_token=Secret("preview"))
    if name == "sophio":
        return SophioSettings(store_url="https://store.invalid", api_key=Secret("preview"),
                              api_secret=Secret("preview"))
    raise PreviewError(f"{name} is not available yet")


def not_polled(order: Order, settings: Any) -> str | None:
    """Why `poll` would never take `order` (its status is not configured for the source); None when it would."""
    if isinstance(settings, WooCommerceSettings) and order.status not in settings.statuses:
        return (f"status {order.status!r} is not in WOOCOMMERCE_STATUSES ({','.join(settings.statuses)})")
    if isinstance(settings, BigCommerceSettings) and order.status_id not in settings.status_ids:
        return (f"status_id {order.status_id} ({order.status}) is not in BIGCOMMERCE_STATUS_IDS "
                f"({','.join(map(str, settings.status_ids))})")
    return None


def render_payload(raw: Any, source: str, destination: str, settings: Settings,
                   any_status: bool = False) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadInput("the file must hold one order object")
    try:
        src = source_class(source)(getattr(settings, source) or _placeholder_settings(source))
        dst = destination_class(destination)(getattr(settings, destination) or _placeholder_settings(destination))
    except (KeyError, PreviewError) as exc:
        raise BadInput(f"{exc}") from None
    try:
        order = src.checked(raw)
    except (MalformedOrder, ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
        raise BadInput(f"cannot read the {source} order: {exc}") from None
    reason = None if any_status else not_polled(order, src.settings)
    if reason:
        raise BadInput(f"poll would not send {source} order {order.id}: {reason}; "
                       "--any-status prints the payload anyway")
    try:
        return dst.build(order)
    except Skip as skip:
        raise BadInput(f"{destination} would skip order {order.id}: {skip.reason}") from None
    except (MalformedOrder, ValueError, TypeError, KeyError, ArithmeticError) as exc:  # what a delivery records as `dead`
        raise BadInput(f"cannot map order {order.id} for {destination}: {exc}") from None
