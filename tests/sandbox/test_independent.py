"""The sandbox stands alone: it imports nothing of the pipeline (the demo starts the sandbox, not the reverse)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import connector.sandbox


def test_the_sandbox_imports_nothing_of_the_pipeline() -> None:
    modules = ["connector.sandbox", *(f"connector.sandbox.{m.name}" for m in pkgutil.iter_modules(connector.sandbox.__path__))]
    assert "connector.sandbox.demo" in modules
    script = (f"import importlib, json, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.startswith('connector'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout)
    assert [m for m in loaded if m != "connector" and not m.startswith("connector.sandbox")] == []
