"""`preview`: the exact payload a destination would be sent for one platform order. No network.

An order `poll` would never send, because its status is not one of the source's configured statuses
(`Source.not_polled`; the defaults of its settings when the source is not configured), is refused
with the reason (exit 2) unless `any_status` asks for the payload anyway. `loyalty` (from `--loyalty FILE`, a
saved Voyado contact-details answer) is attached as a claimed delivery would attach the customer's look-up."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.destinations import destination_class
from connector.destinations.base import Skip
from connector.errors import BadInput
from connector.orders import Loyalty, MalformedOrder
from connector.registry import spec
from connector.sources import source_class


def render_payload(raw: Any, source: str, destination: str, settings: Settings,
                   any_status: bool = False, loyalty: Loyalty | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadInput("the file must hold one order object")
    try:
        src = source_class(source)(settings.of(source) or spec(source).preview_settings())
        dst = destination_class(destination)(settings.of(destination) or spec(destination).preview_settings())
    except KeyError as exc:
        raise BadInput(f"{exc.args[0]} is not available yet") from None
    try:
        order = src.checked(raw)
    except (MalformedOrder, ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
        raise BadInput(f"cannot read the {source} order: {exc}") from None
    if loyalty is not None:  # `--loyalty FILE`: the customer's look-up, as a delivery would carry it
        order = order.model_copy(update={"loyalty": loyalty})
    reason = None if any_status else src.not_polled(order)
    if reason:
        raise BadInput(f"poll would not send {source} order {order.id}: {reason}; "
                       "--any-status prints the payload anyway")
    try:
        return dst.build(order)
    except Skip as skip:
        raise BadInput(f"{destination} would skip order {order.id}: {skip.reason}") from None
    except (MalformedOrder, ValueError, TypeError, KeyError, ArithmeticError) as exc:  # what a delivery records as `dead`
        raise BadInput(f"cannot map order {order.id} for {destination}: {exc}") from None
