"""Destinations: each turns an `Order` into its vendor's payload (pure) and sends it (httpx)."""

from __future__ import annotations

from connector.config import Settings
from connector.destinations.base import Destination, Skip

__all__ = ["Destination", "Skip", "build_destinations", "destination_class"]


def destination_class(name: str) -> type[Destination]:
    if name == "sonarid":
        from connector.destinations.sonarid import SonarID

        return SonarID
    if name == "orderprotection":
        from connector.destinations.orderprotection import OrderProtection

        return OrderProtection
    if name == "sophio":
        from connector.destinations.sophio import Sophio

        return Sophio
    raise KeyError(name)


def build_destinations(settings: Settings) -> dict[str, Destination]:
    """The enabled destinations, by name, configured from settings."""
    result: dict[str, Destination] = {}
    for name in settings.destinations:
        try:
            cls = destination_class(name)
        except KeyError:
            continue
        result[name] = cls(getattr(settings, name))
        result[name].trust = settings.trust
    return result
