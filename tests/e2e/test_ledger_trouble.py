"""The ledger locked by another process, or its disk full, while `poll` delivers — for real.

An answer already received is recorded once the ledger takes it, so nothing is sent twice; a
command that cannot go on says what happened in one line and exits 1.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox import sample_woocommerce_orders
from connector.sandbox.demo import fresh_order
from tests.e2e.conftest import Connector, Run
from tests.waiting import wait_for

DEADLINE = 30.0


def place(connector: Connector, count: int) -> list[str]:
    ids = []
    for i, order in enumerate(sample_woocommerce_orders(count, seed=77)):
        order["billing"] = {**order["billing"], "email": f"buyer{i}@example.com", "first_name": "Ann", "last_name": "Lee"}
        ids.append(str(connector.wc.add_order(fresh_order(order))["id"]))
    return ids


def posts(connector: Connector) -> int:
    return len([r for r in connector.sonarid.requests if r.method == "POST"])


def finish(process: subprocess.Popen[str]) -> Run:
    out, err = process.communicate(timeout=120)
    return Run(process.returncode, out, err)


def deliver_the_rest(connector: Connector, ids: list[str], first: Run, one_line: str) -> None:
    """The first poll recorded every answer it received; a claim that met the trouble ended it in one line."""
    assert first.code in (0, 1), first.err
    again = connector("poll")
    assert again.code == 0, again.err
    assert_each_sent_once(connector, ids)
    assert "could not record the outcome" in first.err, first.err  # the trouble really met an answer
    assert "unexpected failure" not in first.err and "Background on this error" not in first.err, first.err
    if first.code == 1:
        assert f"error: {one_line}" in first.err.splitlines(), first.err


def assert_each_sent_once(connector: Connector, ids: list[str]) -> None:
    assert connector.states() == dict.fromkeys(ids, "delivered")
    for order_id in ids:
        assert connector.sonarid.submissions_for(f"wc_{order_id}") == 1, order_id


def test_a_write_lock_held_past_the_busy_timeout_loses_no_answer(connector: Connector) -> None:
    ids = place(connector, 12)
    connector.env["CONNECTOR_DATABASE_URL"] += "?timeout=0.5"  # the busy timeout, shorter than the lock
    connector.sonarid.faults.add("slow", times=1000, delay=1.0)  # answers arrive while the lock is held
    process = connector.popen("poll")
    wait_for(lambda: posts(connector) > 0, "the first delivery", DEADLINE)
    holder = sqlite3.connect(connector.database, isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")  # another process write-locks the ledger for 3 s
    time.sleep(3)
    holder.execute("ROLLBACK")
    holder.close()
    first = finish(process)

    deliver_the_rest(connector, ids, first, f"the ledger {connector.database} is locked by another process "
                                       "(another connector, or a program holding a write transaction on it): "
                                       "stop it or let it finish, then run the command again")


def test_a_locked_ledger_is_one_line_and_exit_1(connector: Connector) -> None:
    place(connector, 2)
    connector.env["CONNECTOR_DATABASE_URL"] += "?timeout=0.2"
    assert connector("status").code == 0  # the ledger file exists
    holder = sqlite3.connect(connector.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        runs = [connector("poll"), connector("retry", "--dead")]
        reading = connector("status")  # reading needs no lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for run in runs:
        assert run.code == 1
        assert run.err.strip().splitlines()[-1] == (
            f"error: the ledger {connector.database} is locked by another process (another connector, or a program "
            "holding a write transaction on it): stop it or let it finish, then run the command again")
        assert "Background on this error" not in run.err and "OperationalError" not in run.err
    assert connector.sonarid.requests == []
    assert reading.code == 0 and "sonarid" in reading.out, reading.err


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own (needs root and a kernel that lets this sandbox mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_during_delivery_loses_no_answer(connector: Connector, small_disk: Path) -> None:
    ids = place(connector, 12)
    connector.database = small_disk / "connector.db"
    connector.env["CONNECTOR_DATABASE_URL"] = f"sqlite:///{connector.database}"
    connector.sonarid.faults.add("slow", times=1000, delay=1.0)
    process = connector.popen("poll")
    wait_for(lambda: posts(connector) > 0, "the first delivery", DEADLINE)
    filler = fill(small_disk)
    time.sleep(3)
    os.unlink(filler)
    first = finish(process)

    deliver_the_rest(connector, ids, first, f"the disk holding {connector.database} is full: free some space there "
                                       "(the ledger needs it to record orders and outcomes), then run the command again")


def test_a_full_disk_is_one_line_and_exit_1(connector: Connector, small_disk: Path) -> None:
    place(connector, 2)
    connector.database = small_disk / "connector.db"
    connector.env["CONNECTOR_DATABASE_URL"] = f"sqlite:///{connector.database}"
    assert connector("status").code == 0
    fill(small_disk)
    run = connector("poll")
    assert run.code == 1
    assert run.err.strip().splitlines()[-1] == (
        f"error: the disk holding {connector.database} is full: free some space there (the ledger needs it to "
        "record orders and outcomes), then run the command again"), run.err
    assert "Background on this error" not in run.err
