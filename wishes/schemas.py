"""Schemas of micro-wishes, and what each viewer sees of one."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from server.files.services import file_url
from server.schemas import FITS_INT, IN_SERVICE_DATE, MAX_INT, LocalDateTime, NewestFirstArgs, PageArgs
from server.users.models import mask_name
from wishes.models import AWARD_CAUSES, AWARD_STATUSES, WISH_STATUSES, Wish, WishAward
from wishes.services import Viewer, masked_resident


class Trimmed(fields.String):
    """Text without its leading and trailing blanks, so the length rules apply to what is stored."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs)).strip()


PHOTOS = fields.List(
    fields.Integer(strict=True, validate=FITS_INT), load_default=list, validate=validate.Length(max=6)
)


class WishCreateSchema(Schema):
    """A resident's wish; the community defaults to the resident's own."""

    title = Trimmed(required=True, validate=validate.Length(min=2, max=50))
    content = Trimmed(required=True, validate=validate.Length(min=5, max=1000))
    category = fields.String(required=True, validate=validate.Length(min=1, max=20))
    community_id = fields.Integer(strict=True, validate=FITS_INT)
    photos = PHOTOS
    wanted_by = fields.Date(
        allow_none=True, validate=IN_SERVICE_DATE, metadata={"description": "期望完成日期 (YYYY-MM-DD)"}
    )
    contact_name = fields.String(validate=validate.Length(max=32))
    contact_phone = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9+\- ]{5,20}$"))
    use_bound_phone = fields.Boolean(
        load_default=False,
        metadata={"description": "share my bound phone as the contact phone (none unless ticked or given)"},
    )
    address = fields.String(allow_none=True, validate=validate.Length(max=100))


class PhotoSchema(Schema):
    """A photo of a wish."""

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["wish", "fulfilment"]))
    width = fields.Integer()
    height = fields.Integer()


class ContactSchema(Schema):
    """How to reach the resident: only for the resident, the claimer and staff."""

    name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)


class ReviewSchema(Schema):
    """What staff see about the review of a wish."""

    sec_check = fields.String(metadata={"description": "pass | review | unchecked (WeChat unreachable)"})
    sec_label = fields.Integer(allow_none=True)
    fulfil_note_check = fields.String(
        allow_none=True, metadata={"description": "the fulfilment note's check; public only when pass"}
    )
    comment_check = fields.String(
        allow_none=True, metadata={"description": "the resident's comment's check; public only when pass"}
    )
    needs_review = fields.Boolean()
    reviewed_at = LocalDateTime(allow_none=True)
    reviewed_by = fields.String(allow_none=True)


class AwardSchema(Schema):
    """What became of the claimer's points for a completed wish (the resident, the claimer and staff)."""

    id = fields.Integer(required=True)
    status = fields.String(
        required=True,
        metadata={"enum": list(AWARD_STATUSES), "description": "pending: waiting for staff (待确认积分)"},
    )
    cause = fields.String(
        required=True,
        metadata={
            "enum": list(AWARD_CAUSES),
            "description": "confirmed (rating ≥ 3: paid at once), low_rating (1–2), timeout (no answer in "
            "WISH_CONFIRM_DAYS), staff (a disputed wish completed by staff)",
        },
    )
    code = fields.String(
        allow_none=True,
        metadata={"description": "why no points: PAIR_LIMIT, CAP_REACHED, AWARD_REJECTED (by staff), …"},
    )
    points = fields.Integer(allow_none=True)


class WishSchema(Schema):
    """A wish as the caller may see it."""

    id = fields.Integer(required=True)
    community_id = fields.Integer(required=True)
    title = fields.String(required=True)
    content = fields.String(required=True)
    category = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(WISH_STATUSES)})
    resident_name = fields.String(required=True, metadata={"description": "masked (张**)"})
    photos = fields.List(fields.Nested(PhotoSchema), required=True)
    wanted_by = fields.Date(allow_none=True)
    created_at = LocalDateTime(required=True)
    claimed = fields.Boolean(required=True)
    claimer_name = fields.String(allow_none=True, metadata={"description": "masked on the wall"})
    claim_deadline = LocalDateTime(allow_none=True)
    fulfilled_at = LocalDateTime(allow_none=True)
    fulfil_note = fields.String(allow_none=True)
    disputed_at = LocalDateTime(allow_none=True)
    dispute_reason = fields.String(
        allow_none=True, metadata={"description": "the resident's latest dispute (resident, claimer, staff)"}
    )
    completed_at = LocalDateTime(allow_none=True)
    completed_by = fields.String(allow_none=True, metadata={"description": "resident | timeout | staff"})
    rating = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    story_consent = fields.Boolean()
    award_points = fields.Integer(allow_none=True)
    award = fields.Nested(
        AwardSchema,
        allow_none=True,
        metadata={"description": "the claimer's points (resident, claimer, staff)"},
    )
    reject_reason = fields.String(allow_none=True)
    contact = fields.Nested(ContactSchema, allow_none=True)
    mine = fields.Boolean(required=True, metadata={"description": "posted by the caller"})
    claimed_by_me = fields.Boolean(
        required=True, metadata={"description": "the caller (a WeChat user) is its claimer"}
    )
    review = fields.Nested(ReviewSchema, allow_none=True, metadata={"description": "staff only"})


def _photos(wish: Wish, fulfilment: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "id": p.file.id,
            "url": file_url(p.file),
            "kind": p.kind,
            "width": p.file.width,
            "height": p.file.height,
        }
        for p in wish.photos
        if fulfilment or p.kind == "wish"
    ]


def shown_fulfilment_photos(wish: Wish) -> bool:
    """The claimer's photos are unreviewed: the public sees them once the resident shares the completed
    wish as a story (F10); until then only the resident, the claimer and staff do."""
    return wish.status == "completed" and wish.story_consent


def _award(award: WishAward | None) -> dict[str, Any] | None:
    if award is None:
        return None
    return {
        "id": award.id,
        "status": award.status,
        "cause": award.cause,
        "code": award.code,
        "points": award.points,
    }


def shown_note(wish: Wish) -> bool:
    """The public sees the fulfilment note once the wish is completed, if the content check passed it."""
    return wish.status == "completed" and wish.fulfil_note_check == "pass"


def present(wish: Wish, viewer: Viewer, caller_id: int | None) -> dict[str, Any]:
    """The fields of a wish this viewer may see: the wall masks names and hides the contact."""
    mine = caller_id is not None and wish.user_id == caller_id and not viewer.staff
    claimed_by_me = caller_id is not None and wish.claimer_id == caller_id and not viewer.staff
    claimer = wish.claimer
    body: dict[str, Any] = {
        "id": wish.id,
        "community_id": wish.community_id,
        "title": wish.title,
        "content": wish.content,
        "category": wish.category,
        "status": wish.status,
        "resident_name": masked_resident(wish),
        "photos": _photos(wish, fulfilment=viewer.involved or shown_fulfilment_photos(wish)),
        "wanted_by": wish.wanted_by,
        "created_at": wish.created_at,
        "claimed": claimer is not None,
        "claimer_name": (
            (claimer.nickname if viewer.contact else mask_name(claimer.nickname)) if claimer else None
        ),
        "claim_deadline": wish.claim_deadline if viewer.contact else None,
        "fulfilled_at": wish.fulfilled_at,
        "fulfil_note": wish.fulfil_note if viewer.involved or shown_note(wish) else None,
        "disputed_at": wish.disputed_at if viewer.involved else None,
        "dispute_reason": wish.dispute_reason if viewer.involved else None,
        "completed_at": wish.completed_at,
        "completed_by": wish.completed_by,
        "rating": wish.rating,
        "comment": wish.comment if viewer.involved or wish.comment_check == "pass" else None,
        "story_consent": wish.story_consent,
        "award_points": wish.award_points if viewer.involved else None,
        "award": _award(wish.award) if viewer.involved else None,
        "reject_reason": wish.reject_reason if viewer.contact else None,
        "contact": (
            {"name": wish.contact_name, "phone": wish.contact_phone, "address": wish.address}
            if viewer.contact
            else None
        ),
        "mine": mine,
        "claimed_by_me": claimed_by_me,
        "review": None,
    }
    if viewer.staff:
        body["review"] = {
            "sec_check": wish.sec_check,
            "sec_label": wish.sec_label,
            "fulfil_note_check": wish.fulfil_note_check,
            "comment_check": wish.comment_check,
            "needs_review": wish.sec_check != "pass",
            "reviewed_at": wish.reviewed_at,
            "reviewed_by": wish.reviewed_by.display_name or wish.reviewed_by.username
            if wish.reviewed_by
            else None,
        }
    return body


class WallQuerySchema(NewestFirstArgs):
    """The wall's filters and paging (``?before_id=`` or ``?page=``); staff get every status of their
    communities."""

    before_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_INT),
        metadata={
            "description": "the previous page's next_before_id (keyset): the page goes on after that wish "
            "in the list's order (newest: older ids; deadline: later wanted-by; staff: newer ids)"
        },
    )
    community_id = fields.Integer(validate=FITS_INT)
    status = fields.String(validate=validate.OneOf(WISH_STATUSES))
    category = fields.String(validate=validate.Length(max=20))
    sort = fields.String(load_default="newest", validate=validate.OneOf(["newest", "deadline"]))
    needs_review = fields.Boolean(metadata={"description": "staff: only wishes the content check marked"})


class MyWishesQuerySchema(PageArgs):
    """Filters of my wishes."""

    status = fields.String(validate=validate.OneOf(WISH_STATUSES))


class MyClaimsQuerySchema(PageArgs):
    """``active=true`` for claims still to fulfil, ``false`` for those done."""

    active = fields.Boolean()


class StoriesQuerySchema(PageArgs):
    """Stories of a community, or of every community under an org unit."""

    community_id = fields.Integer(validate=FITS_INT)
    org = fields.String(validate=validate.Length(max=32), metadata={"description": "an org code"})


class FulfilSchema(Schema):
    """What the claimer did: at least one photo, or a note of 10 characters or more."""

    note = Trimmed(required=True, validate=validate.Length(min=2, max=500))
    photos = PHOTOS


class ConfirmSchema(Schema):
    """The resident's rating and whether the wish may be shown as a story."""

    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, validate=validate.Length(max=500))
    story_consent = fields.Boolean(load_default=False)


class AwardQuerySchema(PageArgs):
    """Filters of the awards staff decide; ``status=pending`` is the queue (待确认积分)."""

    status = fields.String(validate=validate.OneOf(AWARD_STATUSES))
    community_id = fields.Integer(validate=FITS_INT)


class WishAwardSchema(AwardSchema):
    """An award as staff see it in 待确认积分: the wish, the people, the rating and the decision."""

    wish_id = fields.Integer(required=True)
    wish_title = fields.String(required=True)
    community_id = fields.Integer(required=True)
    community_name = fields.String(required=True)
    resident_id = fields.Integer(required=True)
    resident_name = fields.String(required=True)
    claimer_id = fields.Integer(required=True)
    claimer_name = fields.String(allow_none=True)
    rating = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    completed_by = fields.String(allow_none=True)
    completed_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime(required=True)
    decided_at = LocalDateTime(allow_none=True)
    decided_by = fields.String(
        allow_none=True, metadata={"description": "null: decided at once, by the rule"}
    )
    reject_reason = fields.String(allow_none=True)


def present_award(award: WishAward) -> dict[str, Any]:
    """An award with what staff need to decide it."""
    wish, decided_by = award.wish, award.decided_by
    return {
        **(_award(award) or {}),
        "wish_id": wish.id,
        "wish_title": wish.title,
        "community_id": award.community_id,
        "community_name": wish.community.name,
        "resident_id": award.resident_id,
        "resident_name": wish.contact_name or wish.user.nickname or "",
        "claimer_id": award.claimer_id,
        "claimer_name": award.claimer.nickname,
        "rating": wish.rating,
        "comment": wish.comment,
        "completed_by": wish.completed_by,
        "completed_at": wish.completed_at,
        "created_at": award.created_at,
        "decided_at": award.decided_at,
        "decided_by": (decided_by.display_name or decided_by.username) if decided_by else None,
        "reject_reason": award.reject_reason,
    }


class DisputeSchema(Schema):
    """Why the resident says the wish was not done."""

    reason = Trimmed(required=True, validate=validate.Length(min=1, max=255))


class CancelSchema(Schema):
    """Why the resident withdraws (optional)."""

    reason = fields.String(allow_none=True, validate=validate.Length(max=255))


class StoryConsentSchema(Schema):
    """Share a completed wish as a 微故事, or stop."""

    consent = fields.Boolean(required=True)


class CategoriesSchema(Schema):
    """The wish categories of this deployment."""

    items = fields.List(fields.String(), required=True)


class StorySchema(Schema):
    """A completed wish shared by its resident (微故事)."""

    id = fields.Integer(required=True)
    community_id = fields.Integer(required=True)
    community_name = fields.Function(lambda w: w.community.name, metadata={"type": "string"})
    title = fields.String(required=True)
    content = fields.String(required=True)
    category = fields.String(required=True)
    resident_name = fields.Function(masked_resident, metadata={"type": "string"})
    claimer_name = fields.Function(
        lambda w: mask_name(w.claimer.nickname) if w.claimer else None,
        allow_none=True,
        metadata={"type": "string"},
    )
    fulfil_note = fields.Function(
        lambda w: w.fulfil_note if shown_note(w) else None, allow_none=True, metadata={"type": "string"}
    )
    rating = fields.Integer(allow_none=True)
    comment = fields.Function(
        lambda w: w.comment if w.comment_check == "pass" else None,
        allow_none=True,
        metadata={"type": "string"},
    )
    # a story is shared by its resident: the fulfilment photos too
    photos = fields.Function(
        _photos, metadata={"type": "array", "items": {"$ref": "#/components/schemas/Photo"}}
    )
    completed_at = LocalDateTime(required=True)
