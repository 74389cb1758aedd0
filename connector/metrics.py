"""Prometheus metrics (`prometheus_client`), served by the listener at `GET /metrics` (connector.web).

Counters and the latency histogram are this process's (they start at zero with the service); what
the ledger knows (backlog, the age of the oldest undelivered order, poll lag) is read from it at each
scrape by `LedgerCollector`, so every instance on one ledger reports the same backlog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series beside each counter
REGISTRY = CollectorRegistry(auto_describe=True)

ORDERS_READ = Counter("connector_orders_read", "Platform orders read, per source", ["source"], registry=REGISTRY)
DELIVERIES = Counter("connector_deliveries", "Delivery attempts recorded, by destination and the state they ended in",
                     ["destination", "outcome"], registry=REGISTRY)
HTTP_LATENCY = Histogram("connector_destination_request_seconds", "Time of one HTTP request to a destination",
                         ["destination"], registry=REGISTRY,
                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
WEBHOOK_EVENTS = Counter("connector_webhook_events", "Webhook events received, by source and what became of them "
                         "(received = stored new, duplicate = an event_id already stored, rejected = refused)",
                         ["source", "result"], registry=REGISTRY)


class LedgerCollector(Collector):
    """Backlog, the age of the oldest undelivered order (per destination) and poll lag (per store), read at scrape time.

    `read` returns (backlog {destination: (count, oldest queued time)}, polls [(source, store, last poll time)]);
    a ledger that does not answer yields no samples (and `connector_ledger_up` 0)."""

    def __init__(self, read: Callable[[], tuple[dict[str, tuple[int, datetime | None]], list[tuple[str, str, datetime | None]]]],
                 now: Callable[[], datetime]) -> None:
        self.read = read
        self.now = now

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("connector_ledger_up", "1 when the ledger answered this scrape")
        try:
            backlogs, polls = self.read()
        except Exception:  # noqa: BLE001 - a scrape reports the ledger down, it never fails
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = self.now()
        backlog = GaugeMetricFamily("connector_backlog", "Undelivered deliveries (pending, sending, retrying)",
                                    labels=["destination"])
        oldest = GaugeMetricFamily("connector_oldest_undelivered_age_seconds",
                                   "Age of the oldest undelivered delivery", labels=["destination"])
        for destination, (count, since) in sorted(backlogs.items()):
            backlog.add_metric([destination], count)
            oldest.add_metric([destination], 0.0 if since is None else max(0.0, (now - since).total_seconds()))
        lag = GaugeMetricFamily("connector_poll_lag_seconds", "Seconds since the last completed poll of a store",
                                labels=["source", "store"])
        for source, store, at in polls:
            if at is not None:
                lag.add_metric([source, store], max(0.0, (now - at).total_seconds()))
        yield backlog
        yield oldest
        yield lag
