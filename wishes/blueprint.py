"""Routes of micro-wishes (微心愿)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal, current_user_id
from server.errors import AppError
from server.extensions import limiter
from server.idempotency import idempotent, replayed_headers
from server.orgs.services import communities_under, get_community, get_org_by_code
from server.schemas import newest_first_page_of, page_body, page_of
from server.users.schemas import ReasonSchema
from wishes import services
from wishes.models import Wish
from wishes.schemas import (
    AwardQuerySchema,
    CancelSchema,
    CategoriesSchema,
    ConfirmSchema,
    DisputeSchema,
    FulfilSchema,
    MyClaimsQuerySchema,
    MyWishesQuerySchema,
    StoriesQuerySchema,
    StoryConsentSchema,
    StorySchema,
    WallQuerySchema,
    WishAwardSchema,
    WishCreateSchema,
    WishSchema,
    present,
    present_award,
)

blp = Blueprint("wishes", __name__, url_prefix="/api/v1", description="Micro-wishes (微心愿)")


def _shown(wish: Wish) -> dict[str, Any]:
    """The wish as the caller may see it; a contact shown to anyone but its resident is audited (F7)."""
    principal = current_principal()
    body = present(wish, services.viewer_of(principal, wish), principal.id if principal.user else None)
    services.record_contact_shown(principal, wish, body["contact"])
    return body


Answered = tuple[dict[str, Any], int, dict[str, str]]


def _answered(wish: Wish) -> Answered:
    """The wish after a claim, fulfil, confirm or dispute; the same person's resend gets the same body with
    the header Idempotency-Replayed: true."""
    return _shown(wish), 200, replayed_headers(getattr(wish, "replayed", False))


def _shown_page(items: list[Wish], total: int, args: dict[str, Any]) -> dict[str, Any]:
    return page_body([_shown(w) for w in items], total, args["page"], args["page_size"])


def _post_rate() -> str:
    """WISH_POST_RATE_LIMIT, read at each request so a changed setting (or a test) takes effect at once."""
    return str(current_app.config["WISH_POST_RATE_LIMIT"])


def _poster_key() -> str:
    principal = current_principal()
    return f"{principal.kind}:{principal.id}"


@blp.route("/wishes/categories", methods=["GET"])
@blp.response(200, CategoriesSchema)
def list_categories() -> dict[str, Any]:
    """The wish categories of this deployment."""
    return {"items": services.categories()}


@blp.route("/wishes", methods=["POST"])
@auth_required("user")
@idempotent("wish.create")
@limiter.limit(_post_rate, key_func=_poster_key)
@blp.arguments(WishCreateSchema)
@blp.response(201, WishSchema)
@blp.alt_response(409, description="WISH_PENDING_LIMIT: WISH_MAX_PENDING (default 3) wait for review")
@blp.alt_response(429, description="RATE_LIMITED: WISH_POST_RATE_LIMIT per user (default 5 per day)")
def post_wish(body: dict[str, Any]) -> dict[str, Any]:
    """Post a wish; text goes through WeChat's content check and the wish waits for staff review."""
    return _shown(services.post_wish(current_user_id(), body))


@blp.route("/wishes", methods=["GET"])
@auth_required()
@blp.arguments(WallQuerySchema, location="query")
@blp.response(200, newest_first_page_of(WishSchema))
def list_wishes(args: dict[str, Any]) -> dict[str, Any]:
    """The wall (open by default; completed only if shared), masked, without contact. Staff: every status.
    ``?before_id=`` (the answer's next_before_id) pages on in the same order without repeats or gaps."""
    principal = current_principal()
    if principal.is_staff:
        items, total, next_before_id = services.scroll_staff_wishes(
            principal,
            args.get("status"),
            args.get("community_id"),
            args.get("category"),
            args.get("needs_review"),
            args["page"],
            args["page_size"],
            args.get("before_id"),
        )
    else:
        items, total, next_before_id = services.wall(
            principal,
            args.get("community_id"),
            args.get("status"),
            args.get("category"),
            args["sort"],
            args["page"],
            args["page_size"],
            args.get("before_id"),
        )
    return {**_shown_page(items, total, args), "next_before_id": next_before_id}


@blp.route("/wishes/stories", methods=["GET"])
@blp.arguments(StoriesQuerySchema, location="query")
@blp.response(200, page_of(StorySchema))
def list_stories(args: dict[str, Any]) -> dict[str, Any]:
    """微故事: completed wishes shared by their residents, of a community or an org subtree (no login)."""
    if args.get("community_id") is not None:
        community_ids = [get_community(args["community_id"]).id]
    elif args.get("org"):
        community_ids = communities_under(get_org_by_code(args["org"]))
    else:
        raise AppError("VALIDATION_ERROR", status=422, details={"community_id": ["community_id or org"]})
    items, total = services.stories(community_ids, args["page"], args["page_size"])
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/wishes/<int:wish_id>", methods=["GET"])
@auth_required()
@blp.response(200, WishSchema)
def get_wish(wish_id: int) -> dict[str, Any]:
    """One wish; the resident, the claimer and staff see the contact, and an unshared completed wish."""
    return _shown(services.get_wish(wish_id))


@blp.route("/wishes/<int:wish_id>/approve", methods=["POST"])
@auth_required("staff")
@blp.response(200, WishSchema)
def approve(wish_id: int) -> dict[str, Any]:
    """Staff: put a reviewed wish on the wall."""
    return _shown(services.approve(current_principal(), wish_id))


@blp.route("/wishes/<int:wish_id>/reject", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, WishSchema)
def reject(body: dict[str, str], wish_id: int) -> dict[str, Any]:
    """Staff: reject a wish with a reason the resident reads (also takes an unclaimed one off the wall)."""
    return _shown(services.reject(current_principal(), wish_id, body["reason"]))


@blp.route("/wishes/<int:wish_id>/release", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, WishSchema)
def release(body: dict[str, str], wish_id: int) -> dict[str, Any]:
    """Staff: take a claim back with a reason (claimed, fulfilled or disputed: no points); the claimer and
    the resident are told; it is open again."""
    return _shown(services.release(current_principal(), wish_id, body["reason"]))


@blp.route("/wishes/<int:wish_id>/complete", methods=["POST"])
@auth_required("staff")
@blp.response(200, WishSchema)
def complete(wish_id: int) -> dict[str, Any]:
    """Staff: a disputed wish was done after all — completed, and the claimer's points paid once."""
    return _shown(services.complete_disputed(current_principal(), wish_id))


@blp.route("/wishes/<int:wish_id>/claim", methods=["POST"])
@auth_required("user")
@blp.response(200, WishSchema)
@blp.alt_response(409, description="WISH_ALREADY_CLAIMED: another member was first")
@blp.alt_response(
    429,
    description="CLAIM_LIMIT_DAY: WISH_CLAIMS_PER_DAY claims today (default 3); CLAIM_COOLDOWN: within "
    "WISH_RECLAIM_COOLDOWN_HOURS (default 24) of giving a wish back; details.retry_after",
)
def claim(wish_id: int) -> Answered:
    """A party member or volunteer of the community claims it; 409 WISH_ALREADY_CLAIMED if one was first.
    Resent by its claimer, it answers the wish again (counted once)."""
    return _answered(services.claim(current_user_id(), wish_id))


@blp.route("/wishes/<int:wish_id>/unclaim", methods=["POST"])
@auth_required("user")
@blp.response(200, WishSchema)
def unclaim(wish_id: int) -> dict[str, Any]:
    """The claimer gives the wish back to the wall."""
    return _shown(services.unclaim(current_user_id(), wish_id))


@blp.route("/wishes/<int:wish_id>/fulfil", methods=["POST"])
@auth_required("user")
@blp.arguments(FulfilSchema)
@blp.response(200, WishSchema)
@blp.alt_response(409, description="FULFIL_TOO_SOON: within WISH_MIN_FULFIL_MINUTES of the claim")
@blp.alt_response(422, description="FULFIL_EVIDENCE_REQUIRED: no photo and a note under 10 characters")
def fulfil(body: dict[str, Any], wish_id: int) -> Answered:
    """The claimer marks it fulfilled with a photo or a note of 10+ characters, no sooner than
    WISH_MIN_FULFIL_MINUTES after the claim; the resident is asked to confirm."""
    return _answered(services.fulfil(current_user_id(), wish_id, body["note"], body["photos"]))


@blp.route("/wishes/<int:wish_id>/confirm", methods=["POST"])
@auth_required("user")
@blp.arguments(ConfirmSchema)
@blp.response(200, WishSchema)
def confirm(body: dict[str, Any], wish_id: int) -> Answered:
    """The resident confirms with a rating: completed. 3–5 pays the claimer at once (once); 1–2 puts the
    points in 待确认积分 for staff."""
    wish = services.confirm(
        current_user_id(), wish_id, body["rating"], body.get("comment"), body["story_consent"]
    )
    return _answered(wish)


@blp.route("/wishes/<int:wish_id>/dispute", methods=["POST"])
@auth_required("user")
@blp.arguments(DisputeSchema)
@blp.response(200, WishSchema)
def dispute(body: dict[str, str], wish_id: int) -> Answered:
    """The resident says a fulfilled wish was not done: staff decide (disputed), no points meanwhile."""
    return _answered(services.dispute(current_user_id(), wish_id, body["reason"]))


@blp.route("/wishes/<int:wish_id>/cancel", methods=["POST"])
@auth_required("user")
@blp.arguments(CancelSchema)
@blp.response(200, WishSchema)
def cancel(body: dict[str, Any], wish_id: int) -> dict[str, Any]:
    """The resident withdraws the wish before it is fulfilled."""
    return _shown(services.cancel(current_user_id(), wish_id, body.get("reason")))


@blp.route("/wishes/<int:wish_id>/story", methods=["PUT"])
@auth_required("user")
@blp.arguments(StoryConsentSchema)
@blp.response(200, WishSchema)
def story_consent(body: dict[str, bool], wish_id: int) -> dict[str, Any]:
    """The resident shares a completed wish as a 微故事, or stops sharing it."""
    return _shown(services.set_story_consent(current_user_id(), wish_id, body["consent"]))


@blp.route("/me/wishes", methods=["GET"])
@auth_required("user")
@blp.arguments(MyWishesQuerySchema, location="query")
@blp.response(200, page_of(WishSchema))
def my_wishes(args: dict[str, Any]) -> dict[str, Any]:
    """The wishes I posted, newest first."""
    items, total = services.my_wishes(current_user_id(), args.get("status"), args["page"], args["page_size"])
    return _shown_page(items, total, args)


@blp.route("/me/claims", methods=["GET"])
@auth_required("user")
@blp.arguments(MyClaimsQuerySchema, location="query")
@blp.response(200, page_of(WishSchema))
def my_claims(args: dict[str, Any]) -> dict[str, Any]:
    """The wishes I claimed: still to fulfil (``active=true``) or done (``active=false``)."""
    items, total = services.my_claims(current_user_id(), args.get("active"), args["page"], args["page_size"])
    return _shown_page(items, total, args)


# --- 待确认积分: the claimers' points staff approve ----------------------------------------------------


@blp.route("/wish-awards", methods=["GET"])
@auth_required("staff")
@blp.arguments(AwardQuerySchema, location="query")
@blp.response(200, page_of(WishAwardSchema))
def list_awards(args: dict[str, Any]) -> dict[str, Any]:
    """Staff: the claimers' points of their communities' completed wishes, oldest first; ``status=pending``
    is the queue (no answer in time, a rating of 1 or 2)."""
    items, total = services.staff_awards(
        current_principal(), args.get("status"), args.get("community_id"), args["page"], args["page_size"]
    )
    return page_body([present_award(a) for a in items], total, args["page"], args["page_size"])


@blp.route("/wish-awards/<int:award_id>/approve", methods=["POST"])
@auth_required("staff")
@blp.response(200, WishAwardSchema)
def approve_award(award_id: int) -> dict[str, Any]:
    """Staff: pay the claimer (once; PAIR_LIMIT or a cap refuses it). Paid or refused already: as it is."""
    return present_award(services.approve_award(current_principal(), award_id))


@blp.route("/wish-awards/<int:award_id>/reject", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, WishAwardSchema)
def reject_award(body: dict[str, str], award_id: int) -> dict[str, Any]:
    """Staff: turn the points down with a reason; nothing is paid."""
    return present_award(services.reject_award(current_principal(), award_id, body["reason"]))
