"""Simulated services on 127.0.0.1 for the demo, tests and benchmarks (stdlib only).

- `WooCommerceSandbox`: a WooCommerce store's wc/v3 orders API with WooCommerce's auth and paging.
- `SonarIDSandbox`: sonarID's ``POST /api/v1/orders`` with its validation and deduplication.
- `OrderProtectionSandbox`: OrderProtection's ``POST /v1/orders`` (Bearer, required fields, enums, 201).
- `SophioSandbox`: a Sophio store's ``createorder.wws?action=CREATE`` (query-string authentication, echo).
- `Faults`: failures to inject (error status, 429, slow, dropped connection, HTML instead of JSON).
- `sample_woocommerce_orders`: deterministic, realistic orders to fill the store with.
"""

from connector.sandbox.data import sample_woocommerce_orders
from connector.sandbox.faults import Fault, Faults
from connector.sandbox.orderprotection import OrderProtectionSandbox
from connector.sandbox.server import RecordedRequest, Response, SandboxServer
from connector.sandbox.sonarid import SonarIDSandbox
from connector.sandbox.sophio import SophioSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox

__all__ = [
    "Fault",
    "Faults",
    "OrderProtectionSandbox",
    "RecordedRequest",
    "Response",
    "SandboxServer",
    "SonarIDSandbox",
    "SophioSandbox",
    "WooCommerceSandbox",
    "sample_woocommerce_orders",
]
