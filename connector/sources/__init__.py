"""Sources: each turns its platform's order JSON into the canonical `Order`."""

from __future__ import annotations

from connector.config import Settings
from connector.sources.base import Page, Source, SourceAuthError, SourceError

__all__ = ["Page", "Source", "SourceAuthError", "SourceError", "build_sources", "source_class"]


def source_class(name: str) -> type[Source]:
    if name == "woocommerce":
        from connector.sources.woocommerce import WooCommerce

        return WooCommerce
    if name == "bigcommerce":
        from connector.sources.bigcommerce import BigCommerce

        return BigCommerce
    raise KeyError(name)


def build_sources(settings: Settings) -> dict[str, Source]:
    result: dict[str, Source] = {}
    for name in settings.sources:
        try:
            cls = source_class(name)
        except KeyError:
            continue
        result[name] = cls(getattr(settings, name), timeout=settings.http_timeout, trust=settings.trust)
    return result
