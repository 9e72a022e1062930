"""Routes of the inbox and of subscribe grants."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_user_id
from server.idempotency import idempotent
from server.notifications import services
from server.notifications.schemas import (
    GrantsSchema,
    InboxArgs,
    InboxSchema,
    MarkedSchema,
    MarkReadSchema,
    SubscribeCatalogueSchema,
    SubscriptionsSchema,
)

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Inbox and subscribe messages")


@blp.route("/me/notifications", methods=["GET"])
@auth_required("user")
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxSchema)
def inbox(args: dict[str, Any]) -> dict[str, Any]:
    """My notifications, newest first, with the unread count (``?before_id=`` pages without repeats)."""
    items, total, next_before_id, unread = services.inbox_of(
        current_user_id(), args["unread_only"], args["page"], args["page_size"], args.get("before_id")
    )
    return {
        "items": items,
        "total": total,
        "page": args["page"],
        "page_size": args["page_size"],
        "next_before_id": next_before_id,
        "unread_count": unread,
    }


@blp.route("/me/notifications/read", methods=["POST"])
@auth_required("user")
@blp.arguments(MarkReadSchema)
@blp.response(200, MarkedSchema)
def mark_read(body: dict[str, Any]) -> dict[str, int]:
    """Mark notifications read: ``{"ids": [...]}`` or ``{"all": true}``."""
    user_id = current_user_id()
    updated = services.mark_read(user_id, body.get("ids"), body["all"])
    return {"updated": updated, "unread_count": services.unread_count(user_id)}


@blp.route("/notifications/templates", methods=["GET"])
@blp.response(200, SubscribeCatalogueSchema)
def subscribe_templates() -> dict[str, Any]:
    """Which subscribe template carries which events, and when to ask for it: for each moment of the
    client (``wish.post``, ``redemption.request``, ...) the ids to pass to wx.requestSubscribeMessage on
    that tap. Public: the ids are the mini program's own, needed before login."""
    return services.subscribe_catalogue()


@blp.route("/me/subscriptions", methods=["GET"])
@auth_required("user")
@blp.response(200, GrantsSchema)
def my_grants() -> dict[str, Any]:
    """My remaining subscribe grants, and the template ids the client may request."""
    return {"grants": services.grants_of(current_user_id()), "template_ids": services.template_ids()}


@blp.route("/me/subscriptions", methods=["POST"])
@auth_required("user")
@idempotent("subscriptions.record")
@blp.arguments(SubscriptionsSchema)
@blp.response(200, GrantsSchema)
def record_grants(body: dict[str, list[str]]) -> dict[str, Any]:
    """Record the subscribe grants the user just gave (each accept allows one message of that template):
    wx.requestSubscribeMessage's result object as it came, or ``{"template_ids": [...]}``. Send an
    Idempotency-Key made once per tap: the same report sent again counts once."""
    grants = services.record_grants(current_user_id(), body["template_ids"])
    return {"grants": grants, "template_ids": services.template_ids()}
