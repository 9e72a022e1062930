"""Org routes: the communities a resident can choose."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.orgs.schemas import CommunitySchema
from server.orgs.services import list_communities
from server.schemas import PageArgs, page_body, page_of

blp = Blueprint("orgs", __name__, url_prefix="/api/v1", description="The org tree")


@blp.route("/communities", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(CommunitySchema))
def communities(args: dict[str, Any]) -> dict[str, Any]:
    """The communities a resident can choose (public)."""
    items = list_communities()
    page, size = args["page"], args["page_size"]
    return page_body(items[(page - 1) * size : page * size], len(items), page, size)
