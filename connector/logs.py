"""Logging: one line per event, text or JSON (for journald), always redacted."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from connector.redaction import RedactingFilter, redact

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # fields passed with `extra=` are not part of the message the RedactingFilter cleaned
        entry.update({k: redact(v) if isinstance(v, str) else v
                      for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def setup(level: str = "INFO", fmt: str = "text", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # apscheduler: "Added job", "Running job" lines at INFO; its warnings (misfires, skips) still show
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
