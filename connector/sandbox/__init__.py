"""Simulated services on 127.0.0.1 for the demo, tests and benchmarks (stdlib only).

- `WooCommerceSandbox`: a WooCommerce store's wc/v3 orders API with WooCommerce's auth and paging.
- `SonarIDSandbox`: sonarID's ``POST /api/v1/orders`` with its validation and deduplication.
- `Faults`: failures to inject (error status, 429, slow, dropped connection, HTML instead of JSON).
- `sample_woocommerce_orders`: deterministic, realistic orders to fill the store with.
"""

from connector.sandbox.data import sample_woocommerce_orders
from connector.sandbox.faults import Fault, Faults
from connector.sandbox.server import RecordedRequest, Response, SandboxServer
from connector.sandbox.sonarid import SonarIDSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox

__all__ = [
    "Fault",
    "Faults",
    "RecordedRequest",
    "Response",
    "SandboxServer",
    "SonarIDSandbox",
    "WooCommerceSandbox",
    "sample_woocommerce_orders",
]
