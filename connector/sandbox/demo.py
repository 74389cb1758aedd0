"""The sandbox's credentials and the settings that point the connector at it (used by `connector.demo` and the tests).

Nothing here imports the pipeline: the application starts the sandbox, never the reverse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.sandbox import (
    BigCommerceSandbox,
    OrderProtectionSandbox,
    SonarIDSandbox,
    SophioSandbox,
    SoPostSandbox,
    VoyadoSandbox,
    WooCommerceSandbox,
)
from connector.sandbox.sopost import ORGANISATION

WC_KEY, WC_SECRET, SONARID_KEY = "ck_sandbox_key", "cs_sandbox_secret", "sk_test_sandbox"
ORDERPROTECTION_TOKEN, SOPHIO_KEY, SOPHIO_SECRET = "op_test_sandbox", "sophio_sandbox", "orders_sandbox"
BC_HASH, BC_TOKEN = "sandbox1", "bc_sandbox_token"


def sandbox_env(wc: WooCommerceSandbox | None, sonarid: SonarIDSandbox, database: Path,
                bc: BigCommerceSandbox | None = None) -> dict[str, str]:
    """The settings that point the pipeline at the sandbox servers (the stores given)."""
    env = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{database}",
        "CONNECTOR_RETRY_BASE": "1",
        "CONNECTOR_LOOKBACK": "600",
        "CONNECTOR_LISTEN": "127.0.0.1:0",  # a free port: several services side by side never collide
        "SONARID_URL": sonarid.url,
        "SONARID_API_KEY": SONARID_KEY,
    }
    if wc is not None:
        env.update(WOOCOMMERCE_URL=wc.url, WOOCOMMERCE_CONSUMER_KEY=WC_KEY, WOOCOMMERCE_CONSUMER_SECRET=WC_SECRET)
    if bc is not None:
        env.update(BIGCOMMERCE_STORE_HASH=bc.store_hash, BIGCOMMERCE_ACCESS_TOKEN=bc.access_token,
                   BIGCOMMERCE_API_URL=bc.api_url)
    return env


def orderprotection_env(server: OrderProtectionSandbox) -> dict[str, str]:
    """The settings that turn OrderProtection on, pointed at its sandbox."""
    return {"ORDERPROTECTION_URL": server.url, "ORDERPROTECTION_API_TOKEN": server.api_token}


def sophio_env(server: SophioSandbox) -> dict[str, str]:
    """The settings that turn Sophio on, pointed at its sandbox."""
    return {"SOPHIO_STORE_URL": server.url, "SOPHIO_API_KEY": server.api_key, "SOPHIO_API_SECRET": server.api_secret}


SOPOST_WEBHOOK_SECRET = "sandbox-webhook-secret-0123456789"


def sopost_env(server: SoPostSandbox, *, organisation: str = ORGANISATION) -> dict[str, str]:
    """The settings that turn SoPost on, pointed at its sandbox."""
    return {"SOPOST_API_URL": server.url, "SOPOST_API_KEY": server.api_key, "SOPOST_API_SECRET": server.api_secret,
            "SOPOST_WEBHOOK_SECRET": SOPOST_WEBHOOK_SECRET, "SOPOST_ORGANISATION_ID": organisation}
def voyado_env(server: VoyadoSandbox) -> dict[str, str]:
    """The settings that turn the Voyado look-ups on, pointed at its sandbox."""
    return {"VOYADO_API_URL": server.url, "VOYADO_API_KEY": server.api_key}


def fresh_order(order: dict[str, Any], status: str = "processing") -> dict[str, Any]:
    """A sample order as if placed and paid just now: no id, no dates (the store assigns them)."""
    fresh = {k: v for k, v in order.items() if not k.startswith("date_") and k not in ("id", "number")}
    return fresh | {"status": status}
