"""GET /api/v1/config: the client's start-up configuration."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.startup import services
from server.startup.schemas import ClientConfigSchema

blp = Blueprint("startup", __name__, url_prefix="/api/v1", description="The client's start-up configuration")


@blp.route("/config", methods=["GET"])
@blp.response(200, ClientConfigSchema)
def client_config() -> dict[str, Any]:
    """What a mini program needs at launch, before login: base URLs, wish categories, the subscribe
    templates and when to ask for them, the minimum client version and the server's time."""
    return services.client_config()
