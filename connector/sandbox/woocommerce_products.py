"""The sandbox store's catalogue as wc/v3 shows it: products, their variations and the weight unit.

Shapes follow `WC_REST_Products_Controller` / `WC_REST_Product_Variations_Controller` (the fields a
client reads; descriptions, images and meta are left out): `weight` is a string in the store's unit
(`woocommerce_weight_unit`, "kg" by default in WooCommerce) and "" when none was entered. A
variation stores its own weight, often ""; the API shows it in the "view" context, where
`WC_Product_Variation::get_weight()` falls back to the parent's.

The products are `data_catalog.PRODUCTS`; a variation's id is `product_id * 100 + combination + 1`,
the combination counting through the attributes' options in order, as `data.py` builds line items.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from itertools import product as combinations
from typing import Any

from connector.sandbox.data_catalog import PRODUCTS, STORE_URL, Product

#: `get_option('woocommerce_weight_unit')` and its choices (`WC_Settings_Products`)
WEIGHT_UNITS = {"kg": "kg", "g": "g", "lbs": "lbs", "oz": "oz"}
DEFAULT_WEIGHT_UNIT = "kg"

#: product weights in kg by SKU; the wallet has none entered ("")
WEIGHTS_KG = {"TSHIRT": "0.18", "HOODIE": "0.65", "TOTE-NAT": "0.25", "MUG-12OZ": "0.4", "BEANIE": "0.1",
              "WALLET-BRN": "", "SHOE-TRAIL": "0.9", "BOTTLE-750": "0.35", "SUN-AVI": "0.03"}
#: variations that have their own weight (by parent SKU and option); the others inherit the parent's
OWN_VARIATION_WEIGHTS_KG = {("HOODIE", "XL"): "0.8", ("SHOE-TRAIL", "US 11"): "1.05"}


def variation_id(item: Product, options: tuple[str, ...]) -> int:
    combination = 0
    for attribute, option in zip(item.attributes, options, strict=True):
        combination = combination * len(attribute.options) + attribute.options.index(option)
    return item.product_id * 100 + combination + 1


def _product(item: Product) -> dict[str, Any]:
    variable = bool(item.attributes)
    return {
        "id": item.product_id, "name": item.name, "slug": item.name.lower().replace(" ", "-"),
        "permalink": f"{STORE_URL}/product/{item.name.lower().replace(' ', '-')}/",
        "type": "variable" if variable else "simple", "status": "publish", "sku": item.sku,
        "price": str(item.price), "regular_price": "" if variable else str(item.price), "sale_price": "",
        "virtual": False, "downloadable": False, "shipping_required": True,
        "weight": WEIGHTS_KG.get(item.sku, ""), "dimensions": {"length": "", "width": "", "height": ""},
        "parent_id": 0,
        "attributes": [{"id": 0, "name": a.label, "slug": a.taxonomy, "variation": True, "options": list(a.options)}
                       for a in item.attributes],
        "variations": [variation_id(item, options) for options in combinations(*(a.options for a in item.attributes))]
        if variable else [],
    }


def _variations(item: Product) -> list[dict[str, Any]]:
    rows = []
    for options in combinations(*(a.options for a in item.attributes)):
        own = next((OWN_VARIATION_WEIGHTS_KG[(item.sku, o)] for o in options if (item.sku, o) in OWN_VARIATION_WEIGHTS_KG),
                   "")
        rows.append({
            "id": variation_id(item, options), "parent_id": item.product_id, "status": "publish",
            "sku": "-".join([item.sku, *(o.upper().replace(" ", "")[:3] for o in options)]),
            "price": str(item.price), "regular_price": str(item.price), "sale_price": "",
            "virtual": False, "downloadable": False, "weight": own,
            "dimensions": {"length": "", "width": "", "height": ""},
            "attributes": [{"id": 0, "name": a.label, "option": o} for a, o in zip(item.attributes, options, strict=True)],
        })
    return rows


def sample_catalog(items: Iterable[Product] = PRODUCTS) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """(products by id, variations by id) as stored: a variation's `weight` is its own ("" = the parent's)."""
    products: dict[int, dict[str, Any]] = {}
    variations: dict[int, dict[str, Any]] = {}
    for item in items:
        products[item.product_id] = _product(item)
        for row in _variations(item) if item.attributes else []:
            variations[row["id"]] = row
    return products, variations


def render_variation(variation: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, Any]:
    """A variation as the API shows it ("view" context): an empty weight is the parent's."""
    data = copy.deepcopy(variation)
    if not data.get("weight") and parent is not None:
        data["weight"] = parent.get("weight", "")
    return data


def weight_unit_setting(value: str) -> dict[str, Any]:
    """GET /wc/v3/settings/products/woocommerce_weight_unit (`WC_REST_Setting_Options_Controller`)."""
    return {
        "id": "woocommerce_weight_unit", "label": "Weight unit",
        "description": "This controls what unit you will define weights in.", "type": "select",
        "default": DEFAULT_WEIGHT_UNIT, "options": dict(WEIGHT_UNITS),
        "tip": "This controls what unit you will define weights in.", "value": value, "group_id": "products",
    }
