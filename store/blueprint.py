"""Routes of the points-exchange supermarket (积分兑换超市)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal, current_user_id
from server.idempotency import document_idempotency_key, idempotency_key, replayed_headers
from server.qr import png
from server.schemas import PageArgs, binary_response, page_body, page_of
from server.users.schemas import ReasonSchema
from store import services as store
from store.models import Redemption, StoreItem, StoreSettings
from store.schemas import (
    BulkApproveSchema,
    BulkResultSchema,
    CategoryListSchema,
    CommunityQuerySchema,
    ItemQuerySchema,
    ItemSchema,
    ItemUpdateSchema,
    PickupSchema,
    PickupSettingsSchema,
    RedemptionDetailSchema,
    RedemptionQuerySchema,
    RedemptionRequestSchema,
    RedemptionSchema,
    StaffRedemptionSchema,
)

blp = Blueprint("store", __name__, url_prefix="/api/v1", description="The points-exchange supermarket")


@blp.route("/store/items", methods=["GET"])
@auth_required()
@blp.arguments(ItemQuerySchema, location="query")
@blp.response(200, page_of(ItemSchema))
def list_items(args: dict[str, Any]) -> dict[str, Any]:
    """Items of a community's supermarket on sale now, cheapest first, paged; ``?category=`` one shelf."""
    page, size = args["page"], args["page_size"]
    items, total = store.list_items(args["community_id"], args.get("category"), page, size)
    return page_body(items, total, page, size)


@blp.route("/store/items/<int:item_id>", methods=["GET"])
@auth_required()
@blp.response(200, ItemSchema)
def get_item(item_id: int) -> StoreItem:
    """One item as the list shows it (its community's staff also see it off sale)."""
    return store.item_for_caller(current_principal(), item_id)


@blp.route("/store/categories", methods=["GET"])
@auth_required()
@blp.arguments(CommunityQuerySchema, location="query")
@blp.response(200, CategoryListSchema)
def list_item_categories(args: dict[str, Any]) -> dict[str, Any]:
    """The shelves of a community's supermarket holding items on sale now, with counts (the screen's tabs)."""
    return {"items": store.item_categories(args["community_id"])}


@blp.route("/store/settings/<int:community_id>", methods=["PATCH"])
@auth_required("staff")
@blp.arguments(PickupSettingsSchema)
@blp.response(200, PickupSettingsSchema)
def update_store_settings(body: dict[str, Any], community_id: int) -> StoreSettings:
    """Set where and when the community's approved goods are picked up (staff of the community)."""
    return store.update_pickup(current_principal(), community_id, body)


@blp.route("/store/items", methods=["POST"])
@auth_required("staff")
@blp.arguments(ItemSchema)
@blp.response(201, ItemSchema)
def create_item(body: dict[str, Any]) -> StoreItem:
    """Add an item (staff of the community)."""
    return store.create_item(current_principal(), body)


@blp.route("/store/items/<int:item_id>", methods=["PATCH"])
@auth_required("staff")
@blp.arguments(ItemUpdateSchema(partial=True))
@blp.response(200, ItemSchema)
def update_item(body: dict[str, Any], item_id: int) -> StoreItem:
    """Change an item; a stock change needs ``stock_reason`` and is audited."""
    reason = body.pop("stock_reason", None)
    return store.update_item(current_principal(), item_id, body, reason)


@blp.route("/redemptions", methods=["POST"])
@auth_required("user")
@document_idempotency_key
@blp.arguments(RedemptionRequestSchema)
@blp.response(201, RedemptionSchema)
def request_redemption(body: dict[str, Any]) -> tuple[Redemption, int, dict[str, str]]:
    """Ask for goods: points held, stock reserved; the same Idempotency-Key replays the first answer."""
    user_id = current_user_id()
    raw_key = idempotency_key("redeem")
    redemption, created = store.request_redemption(user_id, body["item_id"], body["quantity"], raw_key)
    return redemption, 201, replayed_headers(not created)


@blp.route("/me/redemptions", methods=["GET"])
@auth_required("user")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(RedemptionSchema))
def my_redemptions(args: dict[str, Any]) -> dict[str, Any]:
    """My redemptions, newest first."""
    items, total = store.my_redemptions(current_user_id(), args["page"], args["page_size"])
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/redemptions/<int:redemption_id>", methods=["GET"])
@auth_required()
@blp.response(200, RedemptionDetailSchema)
def get_redemption(redemption_id: int) -> Redemption:
    """One of my redemptions (staff: one of their communities'), with its pickup deadline and place."""
    return store.redemption_view(current_principal(), redemption_id)


@blp.route("/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@auth_required("user")
@blp.response(200, RedemptionSchema)
def cancel(redemption_id: int) -> tuple[Redemption, int, dict[str, str]]:
    """Cancel my request while it waits: points and stock go back; a resend answers the same (replayed)."""
    redemption = store.cancel(current_user_id(), redemption_id)
    return redemption, 200, replayed_headers(redemption.replayed)


@blp.route("/redemptions", methods=["GET"])
@auth_required("staff")
@blp.arguments(RedemptionQuerySchema, location="query")
@blp.response(200, page_of(StaffRedemptionSchema))
def staff_list(args: dict[str, Any]) -> dict[str, Any]:
    """Redemptions of my communities, oldest first (``?status=requested`` for the queue), with balances."""
    items, total = store.staff_redemptions(
        current_principal(), args.get("status"), args.get("community_id"), args["page"], args["page_size"]
    )
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/redemptions/approve", methods=["POST"])
@auth_required("staff")
@blp.arguments(BulkApproveSchema)
@blp.response(200, BulkResultSchema)
def approve_many(body: dict[str, list[int]]) -> dict[str, Any]:
    """Bulk approve; a result per id (approved, or refused with a code)."""
    return {"items": store.approve_many(current_principal(), body["ids"])}


@blp.route("/redemptions/<int:redemption_id>/approve", methods=["POST"])
@auth_required("staff")
@blp.response(200, RedemptionSchema)
def approve(redemption_id: int) -> tuple[Redemption, int, dict[str, str]]:
    """Approve: points spent, stock taken, a pickup code issued. Sent again by the same staff account
    within 2 minutes it answers the same with Idempotency-Replayed: true; otherwise 409 REDEMPTION_DECIDED."""
    redemption = store.approve(current_principal(), redemption_id, resend_ok=True)
    return redemption, 200, replayed_headers(redemption.replayed)


@blp.route("/redemptions/<int:redemption_id>/reject", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, RedemptionSchema)
def reject(body: dict[str, str], redemption_id: int) -> tuple[Redemption, int, dict[str, str]]:
    """Reject with a reason: points and stock go back. Resent as approve is (the same reason)."""
    redemption = store.reject(current_principal(), redemption_id, body["reason"], resend_ok=True)
    return redemption, 200, replayed_headers(redemption.replayed)


@blp.route("/redemptions/pickup", methods=["POST"])
@auth_required("staff")
@blp.arguments(PickupSchema)
@blp.response(200, RedemptionSchema)
def pickup(body: dict[str, str]) -> tuple[Redemption, int, dict[str, str]]:
    """核销: the member collects the goods with their pickup code. Sent again by the same staff account
    within 2 minutes it answers the same again with the header Idempotency-Replayed: true; otherwise 409
    PICKUP_CODE_USED."""
    redemption = store.pickup(current_principal(), body["pickup_code"], resend_ok=True)
    return redemption, 200, replayed_headers(getattr(redemption, "replayed", False))


@blp.route("/redemptions/<int:redemption_id>/pickup-qr", methods=["GET"])
@auth_required("user")
@blp.doc(responses=binary_response("PNG image of the pickup code", "image/png"))
@blp.response(200, description="PNG image of the pickup code")
def pickup_qr(redemption_id: int) -> Response:
    """My pickup code as a QR image, for the desk's scanner."""
    code = store.pickup_code_of(current_user_id(), redemption_id)
    return Response(png(code), mimetype="image/png", headers={"Cache-Control": "no-store"})
