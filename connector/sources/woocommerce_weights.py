"""Line weights for WooCommerce orders, which carry none: read from the catalogue, batched and cached.

Per page of orders: one GET /products?include=<the page's product ids not yet known>&per_page=100
(100 ids a request), and for lines of variable products one GET /products/{parent}/variations?include=…
per parent with variations not yet known. The store's weight unit (GET
/settings/products/woocommerce_weight_unit, `value` "kg", "g", "lbs" or "oz") is read once, when the
first weight is known. Everything is cached for the life of the source, absent products included.

A weight is a string in the store's unit, "" when none was entered (wc/v3 product schema). A
variation's own weight wins; an empty one is the parent's (as WooCommerce's "view" context shows it).
A product or variation that is gone (absent from the answer) leaves its lines without a weight.

The orders never wait for weights: a read that still fails after the sources' retry policy, or that
the store refuses, leaves that page's lines without weights, with a warning (a transient failure is
tried again on the next page; a refusal turns weights off for the life of the source).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.sources.base import SourceAuthError, SourceError, TransientSourceError

log = logging.getLogger("connector.sources.woocommerce")

BATCH = 100  # the collection's largest per_page; `include` with more ids would be cut to a page
#: `woocommerce_weight_unit` values as the words destinations use (the same words as BigCommerce's)
UNITS = {"kg": "kilograms", "g": "grams", "lbs": "pounds", "oz": "ounces"}

Get = Callable[[str, dict[str, Any]], tuple[Any, Any]]


def parse_weight(value: Any) -> Decimal | None:
    """A catalogue weight ("0.5", "", null) as a Decimal; None when missing, unreadable or negative."""
    if value is None or isinstance(value, bool) or str(value).strip() == "":
        return None
    try:
        weight = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return weight if weight.is_finite() and weight >= 0 else None


def _ids(values: Iterable[Any]) -> set[int]:
    ids = set()
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            continue
        if number > 0:
            ids.add(number)
    return ids


class ProductWeights:
    def __init__(self, get: Get) -> None:
        self._get = get
        self.products: dict[int, Decimal | None] = {}  # product id → weight (None: none entered, or gone)
        self.variations: dict[int, tuple[int, Decimal | None]] = {}  # variation id → (parent id, own weight)
        self.gone_variations: set[int] = set()
        self.unit: str | None = None  # the store's unit as a word; "" when it cannot be read
        self.requests = 0
        self.off: str | None = None  # why weights are off for the life of the source

    def load(self, orders: Iterable[dict[str, Any]]) -> None:
        """Read what the lines of these orders need and the cache lacks. Never raises for the platform."""
        if self.off:
            return
        lines = [item for order in orders if isinstance(order.get("line_items"), list)  # a malformed order's are not
                 for item in order["line_items"] if isinstance(item, dict)]
        products = sorted(_ids(item.get("product_id") for item in lines) - self.products.keys())
        wanted: dict[int, set[int]] = {}
        for item in lines:
            variation = _ids([item.get("variation_id")])
            parent = _ids([item.get("product_id")])
            if variation and parent:
                vid = variation.pop()
                if vid not in self.variations and vid not in self.gone_variations:
                    wanted.setdefault(parent.pop(), set()).add(vid)
        try:
            for start in range(0, len(products), BATCH):
                self._products(products[start:start + BATCH])
            for parent_id, ids in sorted(wanted.items()):
                batch = sorted(ids)
                for start in range(0, len(batch), BATCH):
                    self._variations(parent_id, batch[start:start + BATCH])
            if self.unit is None and (any(w is not None for w in self.products.values())
                                      or any(own is not None for _, own in self.variations.values())):
                self._unit()
        except SourceAuthError as exc:
            self.off = str(exc)
            log.warning("WooCommerce refused the catalogue read (%s): order lines go without weights from now on", exc)
        except SourceError as exc:  # transient, or an answer we cannot use: the orders go on without weights
            log.warning("WooCommerce catalogue unreadable for now (%s): this page's lines go without weights", exc)

    def weight(self, product_id: Any, variation_id: Any) -> Decimal | None:
        """The line's weight: the variation's own, else its parent's; None when unknown or gone."""
        product = _ids([product_id])
        variation = _ids([variation_id])
        if variation:
            known = self.variations.get(variation.pop())
            if known is None:
                return None  # gone, or not read
            parent, own = known
            return own if own is not None else self.products.get(parent)
        return self.products.get(product.pop()) if product else None

    def _list(self, endpoint: str, ids: list[int]) -> list[dict[str, Any]]:
        self.requests += 1
        try:
            body, _ = self._get(endpoint, {"include": ",".join(map(str, ids)), "per_page": BATCH})
        except (SourceAuthError, TransientSourceError):
            raise
        except SourceError as exc:  # 404 and the like: what was asked for is not there
            log.warning("WooCommerce %s answered %s: those lines go without weights", endpoint, exc)
            return []
        return [row for row in body if isinstance(row, dict)] if isinstance(body, list) else []

    def _products(self, ids: list[int]) -> None:
        found = {row.get("id"): parse_weight(row.get("weight")) for row in self._list("products", ids)}
        for pid in ids:
            self.products[pid] = found.get(pid)

    def _variations(self, parent: int, ids: list[int]) -> None:
        found = {row.get("id"): parse_weight(row.get("weight"))
                 for row in self._list(f"products/{parent}/variations", ids)}
        for vid in ids:
            if vid in found:
                self.variations[vid] = (parent, found[vid])
            else:
                self.gone_variations.add(vid)

    def _unit(self) -> None:
        self.requests += 1
        try:
            body, _ = self._get("settings/products/woocommerce_weight_unit", {})
        except TransientSourceError:
            raise
        except SourceError as exc:  # the key's user may not manage WooCommerce settings
            log.warning("WooCommerce weight unit unreadable (%s): line weights are sent without a unit", exc)
            self.unit = ""
            return
        value = str(body.get("value") or "").strip().lower() if isinstance(body, dict) else ""
        self.unit = UNITS.get(value, value)
