"""The WooCommerce capability probe (OPTIONS on the orders route) is asked once per process, not once per poll."""

from __future__ import annotations

from tests.service.test_run import Service, service, stop  # noqa: F401 - the fixture
from tests.waiting import wait_for


def test_the_service_asks_the_orders_route_for_its_arguments_once_across_polls(service: Service) -> None:  # noqa: F811
    process = service.start()
    try:
        def listings() -> int:
            return sum(1 for r in service.wc.requests if r.method == "GET" and r.path.endswith("/wc/v3/orders"))

        wait_for(lambda: listings() >= 3, "three polls of the store")  # CONNECTOR_POLL_INTERVAL=1
    finally:
        assert stop(process) == 0
    options = [r for r in service.wc.requests if r.method == "OPTIONS"]
    assert len(options) == 1, [r.path for r in options]
    assert options[0].path.endswith("/wc/v3/orders")
