"""SoPost's commands through the CLI: webhooks register, backfill --ids, preview, check, status and show."""

from __future__ import annotations

import json
from pathlib import Path

from connector.sandbox import SoPostSandbox, sample_sopost_order
from connector.sandbox.demo import SOPOST_WEBHOOK_SECRET
from connector.sandbox.sopost import ORGANISATION
from tests.e2e.conftest import Connector
from tests.e2e.test_sopost import sopost, sp, submitted  # noqa: F401 - fixtures

__all__ = ["sopost", "sp"]


def test_webhooks_register_creates_the_organisation_webhook_and_prints_its_id(sp: Connector, sopost: SoPostSandbox) -> None:
    url = f"https://connector.example.com/webhooks/sopost/{SOPOST_WEBHOOK_SECRET}"
    run = sp("webhooks", "register", "--source", "sopost", "--url", url)
    assert run.code == 0, run.err
    [hook] = sopost.webhooks.values()
    assert hook == {"id": hook["id"], "url": url, "events": ["OrderEvent"], "entity_type": "Organisation",
                    "entity_id": ORGANISATION}
    assert hook["id"] in run.out
    campaign = sp("webhooks", "register", "--source", "sopost", "--url", url, "--campaign", "c-123")
    assert campaign.code == 0 and "Campaign c-123" in campaign.out
    refused = sp("webhooks", "register", "--source", "sopost", "--url", url, SOPOST_API_SECRET="wrong")
    assert refused.code == 2 and "SOPOST_API_KEY / SOPOST_API_SECRET" in refused.err and "wrong" not in refused.err


def test_backfill_ids_reads_missed_orders_and_delivers_them_once(sp: Connector, sopost: SoPostSandbox,
                                                                 tmp_path: Path) -> None:
    approved = sopost.add_order(sample_sopost_order(50))
    pending = sopost.add_order(sample_sopost_order(51, status="PENDING"))
    ids = tmp_path / "export.csv"
    ids.write_text(f"id\n{approved}\n{pending}\n\n{approved}\n")
    run = sp("backfill", "--source", "sopost", "--ids", str(ids))
    assert run.code == 0, run.err
    assert "2 order ids, 2 taken in" in run.out and "sonarid: 1 delivered" in run.out
    assert len(submitted(sp.sonarid, approved)) == 1
    status = sp("status")
    assert "sopost: 0 events waiting to be read, 1 orders being re-checked" in status.out, status.out
    show = sp("show", pending)
    assert show.code == 0 and "PENDING" in show.out and "pending" in show.out
    shown = sp("show", approved)
    assert shown.code == 0 and "delivered" in shown.out and "BACKFILL" in shown.out
    assert "total none (a free sample)" in shown.out and "consents: SoPost Marketing Optin (SoPost) APPROVED" in shown.out
    assert "answered What is your biggest skincare concern?: Signs of ageing" in shown.out
    assert sp("backfill", "--source", "sopost").code == 2
    assert sp("backfill", "--source", "sopost", "--ids", str(tmp_path / "absent")).code == 2


def test_preview_maps_one_sopost_order(sp: Connector, tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text(json.dumps(sample_sopost_order(60)))
    run = sp("preview", "--source", "sopost", "--destination", "sonarid", str(path))
    assert run.code == 0, run.err
    payload = json.loads(run.out)
    assert payload["order"] == {"id": f"sp_{sample_sopost_order(60)['id']}", "number": "9060ABCDEFG"}
    assert payload["address"]["country"] == "GB"
    path.write_text(json.dumps(sample_sopost_order(61, status="REJECTED")))
    refused = sp("preview", "--source", "sopost", "--destination", "sonarid", str(path))
    assert refused.code == 2 and "SOPOST_STATUSES" in refused.err


def test_check_validates_sopost_and_reads_once(sp: Connector, sopost: SoPostSandbox) -> None:
    run = sp("check")
    assert run.code == 0, run.err
    assert "sopost: SoPost API" in run.out and "credentials accepted" in run.out
    assert [r.path for r in sopost.requests] == ["/orders/00000000-0000-0000-0000-000000000000"]
    refused = sp("check", SOPOST_API_KEY="wrong")
    assert refused.code == 2 and "SOPOST_API_KEY / SOPOST_API_SECRET" in refused.err
    no_listener = sp("check", CONNECTOR_LISTEN="")
    assert no_listener.code == 2 and "CONNECTOR_LISTEN is empty" in no_listener.err
    bad = sp("check", SOPOST_WEBHOOK_SECRET="short")
    assert bad.code == 2 and "SOPOST_WEBHOOK_SECRET" in bad.err and "short" not in bad.err


def test_the_demo_shows_sopost_samples_arriving_by_webhook_and_reaching_sonarid(sp: Connector) -> None:
    run = sp("demo", "--orders", "6")
    assert run.code == 0, run.err
    assert "5. SoPost sample orders by webhook" in run.out
    assert "approved, with marketing consent: sonarid delivered — webhook to sonarID in" in run.out
    assert "pending at first, approved a moment later: sonarid delivered" in run.out
    assert "approved, without marketing consent: sonarid skipped (no APPROVED marketing consent" in run.out
    assert "rejected by SoPost: not sent on" in run.out and "(HTTP 404)" in run.out


def test_poll_reads_the_events_waiting_in_the_inbox(sp: Connector, sopost: SoPostSandbox) -> None:
    from connector.inbox import Inbox

    order_id = sopost.add_order(sample_sopost_order(80))
    ledger = sp.ledger()
    try:
        Inbox(ledger, "sopost").receive("e-80", "APPROVED", order_id, "a")  # stored while the service was stopped
    finally:
        ledger.close()
    run = sp("poll", "--source", "sopost")
    assert run.code == 0, run.err
    assert "sopost inbox: 1 done, 1 deliveries queued" in run.out and "sonarid: 1 delivered" in run.out
    assert len(submitted(sp.sonarid, order_id)) == 1
