"""Schemas of the points-exchange supermarket."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.clock import SERVER_ZONE
from server.schemas import FITS_INT, IN_SERVICE_TIME, MAX_INT, LocalDateTime, PageArgs
from store.models import ITEM_CATEGORIES, LIMIT_PERIODS, REDEMPTION_STATUSES

CATEGORY = validate.OneOf(list(ITEM_CATEGORIES))


class ItemSchema(Schema):
    """An item of the supermarket."""

    id = fields.Integer(dump_only=True)
    community_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=1000))
    photo_url = fields.String(allow_none=True, validate=validate.Length(max=255))
    sponsor = fields.String(allow_none=True, validate=validate.Length(max=100))
    points_price = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    stock = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=1_000_000))
    stock_available = fields.Function(
        lambda item: item.stock - item.reserved, dump_only=True, metadata={"type": "integer"}
    )
    per_user_limit = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_INT))
    limit_period = fields.String(load_default="month", validate=validate.OneOf(LIMIT_PERIODS))
    on_sale_from = fields.AwareDateTime(
        allow_none=True, default_timezone=SERVER_ZONE, validate=IN_SERVICE_TIME
    )
    on_sale_until = fields.AwareDateTime(
        allow_none=True, default_timezone=SERVER_ZONE, validate=IN_SERVICE_TIME
    )
    requires_approval = fields.Boolean(load_default=True)
    active = fields.Boolean(load_default=True)
    # Only points earned in the item's community buy it (POINTS_NOT_EARNED_HERE otherwise).
    earned_here_only = fields.Boolean(load_default=False)
    category = fields.String(
        allow_none=True,
        validate=CATEGORY,
        metadata={"description": "a shelf of GET /store/categories; null: shown under 全部 only"},
    )
    category_name = fields.Function(
        lambda item: ITEM_CATEGORIES.get(item.category or ""),
        dump_only=True,
        allow_none=True,
        metadata={"type": "string", "example": "粮油食品"},
    )


class ItemUpdateSchema(ItemSchema):
    """Fields staff may change; a stock change needs ``stock_reason`` (it is audited)."""

    stock_reason = fields.String(load_only=True, validate=validate.Length(max=255))

    class Meta:
        exclude = ("community_id",)


class CommunityQuerySchema(Schema):
    """Which community's supermarket."""

    community_id = fields.Integer(required=True, validate=FITS_INT)


class ItemQuerySchema(PageArgs):
    """Which community's supermarket, which shelf, which page."""

    community_id = fields.Integer(required=True, validate=FITS_INT)
    category = fields.String(validate=CATEGORY, metadata={"description": "only the items of this shelf"})


class CategorySchema(Schema):
    """A shelf (a tab of the store's screen) and how many items on sale it holds."""

    code = fields.String(required=True, validate=CATEGORY, metadata={"description": "send it as ?category="})
    name = fields.String(required=True, metadata={"example": "粮油食品"})
    count = fields.Integer(required=True)


class CategoryListSchema(Schema):
    """The shelves of a community's supermarket that hold items on sale now, in a fixed order."""

    items = fields.List(fields.Nested(CategorySchema), required=True)


class PickupSettingsSchema(Schema):
    """Where and when a community's approved goods are picked up; a blank value clears it."""

    community_id = fields.Integer(dump_only=True)
    pickup_place = fields.String(
        allow_none=True, validate=validate.Length(max=200), metadata={"example": "幸福里党群服务中心一楼"}
    )
    pickup_hours = fields.String(
        allow_none=True, validate=validate.Length(max=200), metadata={"example": "周一至周五 9:00-17:00"}
    )


class PickupPlaceSchema(Schema):
    """Where and when to pick the goods up (null until the community's staff set them)."""

    place = fields.String(required=True, allow_none=True)
    hours = fields.String(required=True, allow_none=True)


class RedemptionRequestSchema(Schema):
    """What a member asks for."""

    item_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=100))


class RedemptionSchema(Schema):
    """A redemption."""

    id = fields.Integer(required=True)
    item_id = fields.Integer(required=True)
    item_name = fields.Function(lambda r: r.item.name, metadata={"type": "string"})
    user_id = fields.Integer(required=True)
    quantity = fields.Integer(required=True)
    points = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(REDEMPTION_STATUSES))
    pickup_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = LocalDateTime(required=True)
    decided_at = LocalDateTime(allow_none=True)
    picked_up_at = LocalDateTime(allow_none=True)


class RedemptionDetailSchema(RedemptionSchema):
    """One redemption with what its member needs to collect it."""

    pickup_deadline = LocalDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "pick the goods up before this, or they expire; null unless approved"},
    )
    pickup = fields.Nested(PickupPlaceSchema, required=True)


class StaffRedemptionSchema(RedemptionSchema):
    """A redemption in the staff queue, with the member's name and balance a click away."""

    member_nickname = fields.String(allow_none=True)
    member_available = fields.Integer(allow_none=True)


class BulkApproveSchema(Schema):
    """Redemptions to approve at once."""

    ids = fields.List(
        fields.Integer(strict=True, validate=FITS_INT),
        required=True,
        validate=validate.Length(min=1, max=100),
    )


class BulkResultSchema(Schema):
    """A result per id."""

    items = fields.List(fields.Dict(), required=True)


class RedemptionQuerySchema(PageArgs):
    """Filters of the staff list."""

    status = fields.String(validate=validate.OneOf(REDEMPTION_STATUSES))
    community_id = fields.Integer(validate=FITS_INT)


class PickupSchema(Schema):
    """A pickup code typed or scanned at the desk."""

    pickup_code = fields.String(required=True, validate=validate.Length(min=4, max=16))
