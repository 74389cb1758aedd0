"""Every adapter this version has: one line per vendor, the only list adding one touches.

Order matters: settings are read (and a bad one reported) in this order, and `status`/`check`
list adapters in it.
"""

from __future__ import annotations

from connector.adapters import Spec
from connector.destinations import orderprotection, sonarid, sophio
from connector.sources import bigcommerce, woocommerce

REGISTRY: tuple[Spec, ...] = (
    woocommerce.SPEC,
    bigcommerce.SPEC,
    sonarid.SPEC,
    orderprotection.SPEC,
    sophio.SPEC,
)

SOURCES = tuple(spec.name for spec in REGISTRY if spec.kind == "source")
DESTINATIONS = tuple(spec.name for spec in REGISTRY if spec.kind == "destination")
_BY_NAME = {spec.name: spec for spec in REGISTRY}


def spec(name: str) -> Spec:
    """The adapter called `name`; KeyError when this version has none."""
    return _BY_NAME[name]


def of_kind(kind: str) -> tuple[Spec, ...]:
    return tuple(spec for spec in REGISTRY if spec.kind == kind)
