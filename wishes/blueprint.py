"""Routes of micro-wishes (微心愿)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal, current_user_id
from server.errors import AppError
from server.orgs.services import communities_under, get_community, get_org_by_code
from server.schemas import page_body, page_of
from server.users.schemas import ReasonSchema
from wishes import services
from wishes.models import Wish
from wishes.schemas import (
    CancelSchema,
    CategoriesSchema,
    ConfirmSchema,
    FulfilSchema,
    MyClaimsQuerySchema,
    MyWishesQuerySchema,
    StoriesQuerySchema,
    StoryConsentSchema,
    StorySchema,
    WallQuerySchema,
    WishCreateSchema,
    WishSchema,
    present,
)

blp = Blueprint("wishes", __name__, url_prefix="/api/v1", description="Micro-wishes (微心愿)")


def _shown(wish: Wish) -> dict[str, Any]:
    principal = current_principal()
    return present(wish, services.viewer_of(principal, wish), principal.id if principal.user else None)


def _shown_page(items: list[Wish], total: int, args: dict[str, Any]) -> dict[str, Any]:
    return page_body([_shown(w) for w in items], total, args["page"], args["page_size"])


@blp.route("/wishes/categories", methods=["GET"])
@blp.response(200, CategoriesSchema)
def list_categories() -> dict[str, Any]:
    """The wish categories of this deployment."""
    return {"items": services.categories()}


@blp.route("/wishes", methods=["POST"])
@auth_required("user")
@blp.arguments(WishCreateSchema)
@blp.response(201, WishSchema)
def post_wish(body: dict[str, Any]) -> dict[str, Any]:
    """Post a wish; text goes through WeChat's content check and the wish waits for staff review."""
    return _shown(services.post_wish(current_user_id(), body))


@blp.route("/wishes", methods=["GET"])
@auth_required()
@blp.arguments(WallQuerySchema, location="query")
@blp.response(200, page_of(WishSchema))
def list_wishes(args: dict[str, Any]) -> dict[str, Any]:
    """The wall (open by default; completed only if shared), masked, without contact. Staff: every status."""
    principal = current_principal()
    if principal.is_staff:
        items, total = services.staff_wishes(
            principal,
            args.get("status"),
            args.get("community_id"),
            args.get("category"),
            args.get("needs_review"),
            args["page"],
            args["page_size"],
        )
    else:
        items, total = services.wall(
            principal,
            args.get("community_id"),
            args.get("status"),
            args.get("category"),
            args["sort"],
            args["page"],
            args["page_size"],
        )
    return _shown_page(items, total, args)


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
    """Staff: take a claim back with a reason; the claimer and the resident are told; it is open again."""
    return _shown(services.release(current_principal(), wish_id, body["reason"]))


@blp.route("/wishes/<int:wish_id>/claim", methods=["POST"])
@auth_required("user")
@blp.response(200, WishSchema)
def claim(wish_id: int) -> dict[str, Any]:
    """A party member or volunteer of the community claims it; 409 WISH_ALREADY_CLAIMED if one was first."""
    return _shown(services.claim(current_user_id(), wish_id))


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
def fulfil(body: dict[str, Any], wish_id: int) -> dict[str, Any]:
    """The claimer marks it fulfilled with a note and photos; the resident is asked to confirm."""
    return _shown(services.fulfil(current_user_id(), wish_id, body["note"], body["photos"]))


@blp.route("/wishes/<int:wish_id>/confirm", methods=["POST"])
@auth_required("user")
@blp.arguments(ConfirmSchema)
@blp.response(200, WishSchema)
def confirm(body: dict[str, Any], wish_id: int) -> dict[str, Any]:
    """The resident confirms with a rating: completed, and the claimer's points are awarded once."""
    wish = services.confirm(
        current_user_id(), wish_id, body["rating"], body.get("comment"), body["story_consent"]
    )
    return _shown(wish)


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
