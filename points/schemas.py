"""Schemas of balances, history, rules, adjustments and leaderboards."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from points.models import TRANSACTION_KINDS
from server.schemas import FITS_INT, MAX_INT, LocalDateTime, NewestFirstArgs, PageArgs

PERIODS = ("month", "year", "all")  # what a leaderboard counts over
CODE = validate.Regexp(r"^[A-Z][A-Z0-9_]{1,31}$", error="upper snake case, 2-32 characters")


class BalanceSchema(Schema):
    """A user's points."""

    available = fields.Integer(required=True)
    held = fields.Integer(required=True, metadata={"description": "waiting for a redemption decision"})
    earned_total = fields.Integer(required=True)
    spent_total = fields.Integer(required=True)


class HistoryItemSchema(Schema):
    """One movement of available points."""

    id = fields.Integer(required=True)
    amount = fields.Integer(required=True, metadata={"description": "signed"})
    kind = fields.String(required=True, validate=validate.OneOf(TRANSACTION_KINDS))
    category = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    memo = fields.String(required=True, metadata={"example": "主题党日签到 +5"})
    reason = fields.String(allow_none=True)
    created_at = LocalDateTime(required=True)


class RuleSchema(Schema):
    """A points rule."""

    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    category = fields.String(required=True, validate=validate.Length(min=1, max=32))
    points = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    unit = fields.String(required=True, validate=validate.OneOf(["event", "hour"]))
    daily_cap = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_INT))
    yearly_cap = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_INT))
    party_member_multiplier = fields.Decimal(
        allow_none=True, places=2, as_string=True, validate=validate.Range(min=0.01, max=99)
    )
    active = fields.Boolean(load_default=True)

    @validates_schema
    def caps_in_order(self, data: dict[str, object], **_: object) -> None:
        """A yearly cap below the daily cap makes no sense."""
        daily, yearly = data.get("daily_cap"), data.get("yearly_cap")
        if isinstance(daily, int) and isinstance(yearly, int) and yearly < daily:
            raise ValidationError("yearly_cap must be at least daily_cap", "yearly_cap")


class RuleUpdateSchema(RuleSchema):
    """Fields of a rule an admin may change (not its code)."""

    class Meta:
        exclude = ("code",)


class RuleListSchema(Schema):
    """Every rule."""

    items = fields.List(fields.Nested(RuleSchema), required=True)
    total = fields.Integer(required=True)


class AdjustmentSchema(Schema):
    """A staff correction of a user's points."""

    user_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    amount = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=-1_000_000, max=1_000_000)
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class TransactionSchema(Schema):
    """A recorded ledger transaction."""

    transaction_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(TRANSACTION_KINDS))
    amount = fields.Integer(required=True, metadata={"description": "signed, as it moved the user's points"})
    memo = fields.String(required=True)
    reason = fields.String(allow_none=True)
    created_at = LocalDateTime(required=True)


class ReverseSchema(Schema):
    """Why a transaction is undone."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class LeaderboardArgs(Schema):
    """Which leaderboard."""

    community_id = fields.Integer(validate=FITS_INT)
    org = fields.String(metadata={"description": "an org code: every community below it"})
    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class LeaderboardRowSchema(Schema):
    """One place."""

    rank = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    nickname_masked = fields.String(required=True)
    points = fields.Integer(required=True)


class LeaderboardPlaceSchema(Schema):
    """Where the calling member stands on this board, however far down."""

    rank = fields.Integer(
        required=True, allow_none=True, metadata={"description": "as the board ranks; null: not on it"}
    )
    points = fields.Integer(required=True, metadata={"description": "earned in the board's period; 0: none"})


class LeaderboardSchema(Schema):
    """A leaderboard."""

    period = fields.String(required=True, validate=validate.OneOf(PERIODS))
    items = fields.List(fields.Nested(LeaderboardRowSchema), required=True)
    me = fields.Nested(
        LeaderboardPlaceSchema, required=True, allow_none=True, metadata={"description": "null for staff"}
    )


class HistoryArgs(PageArgs):
    """Paging of a history."""


class MyHistoryArgs(NewestFirstArgs):
    """Paging of my history: ``?before_id=`` (the previous page's next_before_id) or ``?page=``."""


class MemberPointsSchema(BalanceSchema):
    """A member's points as staff see them."""

    user_id = fields.Integer(required=True)
    nickname = fields.String(required=True)
    phone_masked = fields.String(allow_none=True)
