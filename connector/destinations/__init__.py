"""Destinations: each turns an `Order` into its vendor's payload (pure) and sends it (httpx)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.destinations.base import Destination, Skip

if TYPE_CHECKING:
    from connector.config import Settings

__all__ = ["Destination", "Skip", "build_destinations", "destination_class"]


def destination_class(name: str) -> type[Destination]:
    """The adapter class registered as `name` (connector.registry); KeyError when there is none."""
    from connector.registry import spec

    return spec(name, "destination").adapter


def build_destinations(settings: Settings) -> dict[str, Destination]:
    """The enabled destinations, by name, configured from settings."""
    result: dict[str, Destination] = {}
    for name in settings.destinations:
        result[name] = destination_class(name)(settings.of(name))
        result[name].trust = settings.trust
    return result
