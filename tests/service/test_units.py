"""The systemd units: `systemd-analyze verify` is clean and the exposure stays at 1.5 or below.

`verify` also checks that ExecStart's binary exists, and /opt/connector/venv is not on a test
machine; so each unit is verified as a copy in a temporary directory whose only change is that
binary, pointed at the Python running the tests. Everything else is verified as written.
`verify` exits 0 even for unknown keys and unparsable values (it only prints them), so any
output at all is a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector import config

UNITS = Path(__file__).resolve().parents[2] / "systemd"
VENV_PYTHON = "/opt/connector/venv/bin/python"
ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 1.5

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (.ci/run installs it)")


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(unit_text: str, name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / name
    copy.write_text(unit_text)
    return subprocess.run([ANALYZE or "systemd-analyze", "verify", str(copy)], check=False, capture_output=True, text=True,
                          timeout=60)


def with_real_python(path: Path) -> str:
    text = path.read_text()
    assert text.count(VENV_PYTHON) == 1, "ExecStart must use the venv under /opt/connector exactly once"
    return text.replace(VENV_PYTHON, str(Path(sys.executable).resolve()))


@needs_analyze
@pytest.mark.parametrize("name", ["connector.service", "connector@.service"])
def test_verify_is_clean(name: str, tmp_path: Path) -> None:
    result = verify(with_real_python(UNITS / name), name, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


@needs_analyze
def test_verify_as_used_here_does_report_mistakes(tmp_path: Path) -> None:
    broken = with_real_python(UNITS / "connector.service").replace("WatchdogSec=60s", "WatchdogSec=sixty\nWatchDogSec=1")
    result = verify(broken, "connector.service", tmp_path)
    assert "WatchDogSec" in result.stderr and "sixty" in result.stderr


@needs_analyze
@pytest.mark.parametrize("name", ["connector.service", "connector@.service"])
def test_exposure_is_at_most_1_5(name: str) -> None:
    result = subprocess.run([ANALYZE or "systemd-analyze", "security", "--offline=yes", "--threshold=15",
                             str(UNITS / name)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= MAX_EXPOSURE


@pytest.mark.parametrize(("name", "env_file", "state", "user"), [
    ("connector.service", "/etc/connector/connector.env", "connector", "connector"),
    ("connector@.service", "/etc/connector/%i.env", "connector/%i", "connector-%i"),
])
def test_the_units_run_the_service_the_way_it_expects(name: str, env_file: str, state: str, user: str) -> None:
    unit = directives(UNITS / name)
    assert unit["ExecStart"] == [f"{VENV_PYTHON} -m connector run"]
    assert unit["EnvironmentFile"] == [env_file]
    assert unit["StateDirectory"] == [state]  # config.default_database_url follows $STATE_DIRECTORY
    assert unit["DynamicUser"] == ["yes"] and unit["User"] == [user]  # docs/service.md runs commands as it
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # a bad configuration is not fixed by restarting
    assert "AF_UNIX" in unit["RestrictAddressFamilies"][0].split()  # sd_notify
    assert {"AF_INET", "AF_INET6"} <= set(unit["RestrictAddressFamilies"][0].split())  # HTTPS and DNS
    assert _seconds(unit["TimeoutStopSec"][0]) > config.load({}).http_timeout  # the longest request in flight
    assert _seconds(unit["WatchdogSec"][0]) >= 10


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)
