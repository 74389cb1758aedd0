"""Simulated services on 127.0.0.1 for the demo, tests and benchmarks (stdlib only).

- `WooCommerceSandbox`: a WooCommerce store's wc/v3 orders API with WooCommerce's auth and paging.
- `BigCommerceSandbox`: a BigCommerce store's V2 orders API with its paging, 204s and request quota.
- `SonarIDSandbox`: sonarID's ``POST /api/v1/orders`` with its validation and deduplication.
- `OrderProtectionSandbox`: OrderProtection's ``POST /v1/orders`` (Bearer, required fields, enums, 201).
- `SophioSandbox`: a Sophio store's ``createorder.wws?action=CREATE`` (query-string authentication, echo).
- `SoPostSandbox`: SoPost's ``GET /orders/{id}`` and ``POST /webhooks`` (Basic auth), and a sender of its ``OrderEvent``s.
- `VoyadoSandbox`: Voyado's ``POST /api/v1/contact-details`` with its leaky bucket enforced and every documented answer.
- `Faults`: failures to inject (error status, 429, slow, dropped connection, HTML instead of JSON).
- `sample_woocommerce_orders`, `sample_bigcommerce_orders`: deterministic, realistic orders to fill the stores with.
"""

from connector.sandbox.bigcommerce import BigCommerceSandbox
from connector.sandbox.bigcommerce_data import sample_bigcommerce_orders
from connector.sandbox.data import sample_woocommerce_orders
from connector.sandbox.faults import Fault, Faults
from connector.sandbox.orderprotection import OrderProtectionSandbox
from connector.sandbox.server import RecordedRequest, Response, SandboxServer
from connector.sandbox.sonarid import SonarIDSandbox
from connector.sandbox.sophio import SophioSandbox
from connector.sandbox.sopost import SoPostSandbox, sample_sopost_order
from connector.sandbox.voyado import VoyadoSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox

__all__ = [
    "BigCommerceSandbox",
    "Fault",
    "Faults",
    "OrderProtectionSandbox",
    "RecordedRequest",
    "Response",
    "SandboxServer",
    "SoPostSandbox",
    "SonarIDSandbox",
    "SophioSandbox",
    "VoyadoSandbox",
    "WooCommerceSandbox",
    "sample_bigcommerce_orders",
    "sample_sopost_order",
    "sample_woocommerce_orders",
]
