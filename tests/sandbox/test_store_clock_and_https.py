"""The sandboxes' `Date` header follows the store's clock, and they serve HTTPS with a given certificate."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from connector.sandbox import BigCommerceSandbox, SonarIDSandbox, WooCommerceSandbox
from connector.sandbox.clock import SkewedClock
from tests.certs import make_ca
from tests.waiting import wait_for


@pytest.mark.parametrize("make", [lambda clock: WooCommerceSandbox(clock=clock),
                                  lambda clock: BigCommerceSandbox(clock=clock)], ids=["woocommerce", "bigcommerce"])
def test_the_date_header_and_the_stamps_are_on_the_stores_clock(make: object) -> None:
    clock = SkewedClock(timedelta(minutes=-13))
    with make(clock) as store:  # type: ignore[operator]
        store.add_order({"status": "processing", "status_id": 11})
        date = parsedate_to_datetime(httpx.get(store.url + "/").headers["Date"])
        assert abs(date - (datetime.now(UTC) - timedelta(minutes=13))) < timedelta(seconds=5)
        clock.advance(minutes=3)
        later = parsedate_to_datetime(httpx.get(store.url + "/").headers["Date"])
        assert timedelta(minutes=3) <= later - date < timedelta(minutes=3, seconds=5)
        [order] = store.orders.values()
        stamp = order.get("date_created_gmt") or order["date_created"]
        stamped = (datetime.fromisoformat(stamp).replace(tzinfo=UTC) if "T" in stamp
                   else parsedate_to_datetime(stamp))
        assert abs(stamped - date) < timedelta(seconds=5)


def test_https_with_a_private_ca_and_a_count_of_refused_handshakes(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    server = SonarIDSandbox()
    server.ssl_context = ca.server_context()
    with server:
        assert server.url.startswith("https://127.0.0.1:")
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/")
        # the client gives up before the server's thread has read its alert: wait for the count, don't race it
        wait_for(lambda: server.failed_handshakes >= 1, "the server to count the refused handshake")
        assert (server.connections, server.failed_handshakes) == (1, 1)
        assert httpx.get(server.url + "/", verify=ssl.create_default_context(cafile=ca.ca)).status_code == 404
        assert (server.connections, server.failed_handshakes) == (2, 1)
