"""The CLI on each ledger backend (SQLite, PostgreSQL): poll, backfill, status, show, retry; a release
0.1.0 ledger upgraded in place and delivered from; a database that cannot be reached."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connector import migrations
from tests import release_ledger
from tests.e2e.conftest import Connector
from tests.e2e.test_woocommerce_to_sonarid import one


def test_poll_status_show_retry_and_backfill(any_connector: Connector) -> None:
    c = any_connector
    good = c.wc.add_order(one(11))
    bad = c.wc.add_order(one(12) | {"billing": {**one(12)["billing"], "email": "someone@mailinator.com"}})
    c.sonarid.faults.add("status", status=500)  # the first send fails, is retried, and lands once
    run = c("poll")
    assert run.code == 0, run.err
    assert c.states() == {str(good["id"]): "delivered", str(bad["id"]): "dead"}
    assert c.sonarid.submissions_for(f"wc_{good['id']}") == 1

    status = json.loads(c("status", "--json").out)
    assert status["schema_revision"] == migrations.head()
    [sonar] = [d for d in status["destinations"] if d["destination"] == "sonarid"]
    assert (sonar["counts"]["delivered"], sonar["counts"]["dead"]) == (1, 1)
    assert "disposable" in sonar["last_error"]["reason"]
    [cursor] = status["cursors"]
    assert datetime.fromisoformat(cursor["last_poll_at"]).tzinfo is not None
    assert f"schema revision {migrations.head()}" in c("status").out

    shown = json.loads(c("show", str(good["id"]), "--json").out)
    assert [d["state"] for o in shown for d in o["deliveries"]] == ["delivered"]
    assert str(good["total"]) in json.dumps(shown)  # money as the store wrote it, never a float's digits

    retried = c("retry", "--dead")
    assert retried.code == 0 and "re-queued 1 deliveries" in retried.out, retried.err
    c.wc.update_order(bad["id"], billing={**bad["billing"], "email": "real.person@example.com"})
    assert c("poll").code == 0
    assert c.states() == {str(good["id"]): "delivered", str(bad["id"]): "delivered"}

    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    backfill = c("backfill", "--since", since)
    assert backfill.code == 0, backfill.err
    for order in (good, bad):  # the UNIQUE key: read again, never sent again
        assert c.sonarid.submissions_for(f"wc_{order['id']}") == 1


def test_a_release_0_1_0_ledger_is_upgraded_by_poll_and_its_pending_orders_delivered(any_connector: Connector) -> None:
    c = any_connector
    release_ledger.load(c.url)
    run = c("poll")
    assert run.code == 0, run.err
    assert c.states() == {"101": "delivered", "102": "delivered", "103": "delivered", "104": "dead",
                          "105": "skipped", "106": "delivered", "107": "dead"}
    for order_id, sends in (("101", 1), ("102", 0), ("103", 1), ("104", 0), ("105", 0), ("106", 1), ("107", 0)):
        assert c.sonarid.submissions_for(f"wc_{order_id}") == sends, order_id  # 102 was delivered by the release
    shown = json.loads(c("show", "104", "--json").out)
    assert [(d["state"], d["reason"]) for o in shown for d in o["deliveries"]] == [("dead", "HTTP 422")]  # kept
    assert json.loads(c("status", "--json").out)["schema_revision"] == migrations.head()


@pytest.mark.parametrize(("url", "down"), [
    ("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/test", True),  # nothing listens there (yet)
    ("postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:5432/test", False),  # a role the server refuses
])
def test_a_database_that_cannot_be_reached_stops_start_up_with_one_line(connector: Connector, url: str, down: bool,
                                                                        postgres_server: str) -> None:
    # a server that is not up yet exits 1, so that systemd (Restart=on-failure, RestartPreventExitStatus=2)
    # starts the service again once it is; a login it refuses is a setting to fix: exit 2, not restarted
    started = 1 if down else 2
    for args, code in ((("check",), 2), (("poll",), started), (("status",), started), (("run",), started)):
        run = connector(*args, CONNECTOR_DATABASE_URL=url)
        assert run.code == code, (args, run.err)
        [line] = [line for line in run.err.splitlines() if "CONNECTOR_DATABASE_URL" in line]
        assert line.startswith("error:") and ":***@127.0.0.1" in line, line
        assert "s3cret-pw" not in run.err + run.out
        assert "Traceback" not in run.err


def test_check_shows_the_schema_revision_and_what_the_next_start_does(any_connector: Connector) -> None:
    c = any_connector
    if c.url.startswith("sqlite"):  # no file yet
        assert "(will be created)" in c("check").out
    else:
        assert "schema not created yet" in c("check").out
    release_ledger.load(c.url)
    assert f"written before migrations: upgraded to schema revision {migrations.head()}" in c("check").out
    assert c("status").code == 0  # opening the ledger upgrades it
    run = c("check")
    assert run.code == 0, run.err
    [line] = [line for line in run.out.splitlines() if line.startswith("ok database")]
    assert line.endswith(f"(schema revision {migrations.head()})")
