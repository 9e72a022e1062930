"""The start-up configuration a client reads once per launch."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from server import clock
from server.notifications.services import subscribe_catalogue


def public_base_url() -> str:
    """Where the client reaches this server: PUBLIC_BASE_URL, else the origin the request came to."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    return str(configured) if configured else request.host_url.rstrip("/")


def client_config() -> dict[str, Any]:
    """Base URLs, wish categories, subscribe templates, the oldest client still served, the server's time."""
    base = public_base_url()
    catalogue = subscribe_catalogue()
    return {
        "api_base_url": f"{base}/api/v1",
        "file_base_url": base,
        "qr_link_base": current_app.config["QR_LINK_BASE"],
        "coord_type": "gcj02",
        "wish_categories": [n for n in str(current_app.config["WISH_CATEGORIES"]).split(",") if n],
        "subscribe_templates": catalogue["templates"],
        "subscribe_moments": catalogue["moments"],
        "min_client_version": current_app.config["MIN_CLIENT_VERSION"],
        "server_time": clock.now(),
    }
