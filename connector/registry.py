"""Every adapter this version has: one line per vendor, the only list adding one touches.

Order matters: settings are read (and a bad one reported) in this order, and `status`/`check`
list adapters in it.
"""

from __future__ import annotations

from connector.adapters import Spec
from connector.destinations import orderprotection, sonarid, sophio
from connector.lookups import voyado
from connector.sources import bigcommerce, sopost, woocommerce

REGISTRY: tuple[Spec, ...] = (
    woocommerce.SPEC,
    bigcommerce.SPEC,
    sopost.SPEC,
    sonarid.SPEC,
    orderprotection.SPEC,
    sophio.SPEC,
    voyado.SPEC,
)

SOURCES = tuple(spec.name for spec in REGISTRY if spec.kind == "source")  # for the command line's choices
DESTINATIONS = tuple(spec.name for spec in REGISTRY if spec.kind == "destination")
LOOKUPS = tuple(spec.name for spec in REGISTRY if spec.kind == "lookup")


def spec(name: str, kind: str | None = None) -> Spec:
    """The adapter called `name` (of `kind`); KeyError when this version has none."""
    for candidate in REGISTRY:
        if candidate.name == name and kind in (None, candidate.kind):
            return candidate
    raise KeyError(name)


def of_kind(kind: str) -> tuple[Spec, ...]:
    return tuple(spec for spec in REGISTRY if spec.kind == kind)


def names(kind: str) -> list[str]:
    return [spec.name for spec in of_kind(kind)]
