"""Sources: each turns its platform's order JSON into the canonical `Order`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.sources.base import Page, Source, SourceAuthError, SourceError

if TYPE_CHECKING:
    from connector.config import Settings

__all__ = ["Page", "Source", "SourceAuthError", "SourceError", "build_sources", "source_class"]


def source_class(name: str) -> type[Source]:
    """The adapter class registered as `name` (connector.registry); KeyError when there is none."""
    from connector.registry import spec

    return spec(name, "source").adapter


def build_sources(settings: Settings, *, polled: bool | None = True) -> dict[str, Source]:
    """The enabled sources, by name: the polled ones (the default), those by webhook (`polled=False`), or all (None)."""
    from connector.registry import spec

    return {name: source_class(name)(settings.of(name), timeout=settings.http_timeout, trust=settings.trust)
            for name in settings.sources if polled is None or spec(name, "source").polled == polled}
