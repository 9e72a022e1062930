"""Routes of /me, the party-report flow and community moves."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal
from server.idempotency import body_code_key, idempotent
from server.schemas import PageArgs, page_body, page_of
from server.users import moves, services
from server.users.me import me_payload
from server.users.models import CommunityMove, PartyReport, User
from server.users.schemas import (
    CommunityMoveCreateSchema,
    CommunityMoveQuerySchema,
    CommunityMoveSchema,
    DisableSchema,
    MePatchSchema,
    MeSchema,
    MyPartyReportSchema,
    PartyReportCreateSchema,
    PartyReportQuerySchema,
    PartyReportSchema,
    PhoneCodeSchema,
    ReasonSchema,
    UserStaffSchema,
    VolunteerCreateSchema,
    VolunteerSchema,
)

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Me, party reports, community moves")


def _me() -> dict[str, Any]:
    principal = current_principal()
    who = principal.user if principal.user is not None else principal.staff
    assert who is not None  # noqa: S101  (an authenticated principal is a user or staff)
    return me_payload(principal.kind, who)


ME_EXAMPLE = {
    "id": 57,
    "kind": "user",
    "nickname": "王阿姨",
    "community_id": 4,
    "roles": ["resident", "party_member", "volunteer"],
    "party_member": True,
    "party_community_id": 4,
    "volunteer_community_id": 4,
    "phone_masked": "138****7387",
    "org": None,
}


@blp.route("/me", methods=["GET"])
@auth_required()
@blp.response(200, MeSchema, example=ME_EXAMPLE)
def get_me() -> dict[str, Any]:
    """Who I am: roles, community, party membership, masked phone."""
    return _me()


@blp.route("/me", methods=["PATCH"])
@auth_required("user")
@blp.arguments(MePatchSchema)
@blp.response(200, MeSchema)
def patch_me(body: dict[str, Any]) -> dict[str, Any]:
    """Change my nickname, or choose the community I live in while I have none.

    Once set, a different community is refused with 409 COMMUNITY_MOVE_REQUIRED and nothing of the request
    is applied: apply for a move instead (POST /me/community-moves). The same community again is fine."""
    user = current_principal().user
    assert user is not None  # noqa: S101  (auth_required("user") lets only users in)
    services.update_profile(user, body.get("nickname"), body.get("community_id"))
    return _me()


@blp.route("/me/phone", methods=["POST"])
@auth_required("user")
@idempotent("phone.bind", natural_key=body_code_key())  # the resend of a used phone code: the first answer
@blp.arguments(PhoneCodeSchema)
@blp.response(200, MeSchema)
def bind_phone(body: dict[str, str]) -> dict[str, Any]:
    """Bind my phone from a WeChat phone code; it is only ever shown masked."""
    user = current_principal().user
    assert user is not None  # noqa: S101  (auth_required("user") lets only users in)
    services.bind_phone(user, body["code"])
    return _me()


@blp.route("/me/party-report", methods=["POST"])
@auth_required("user")
@idempotent("party_report.create")
@blp.arguments(PartyReportCreateSchema)
@blp.response(201, PartyReportSchema)
def submit_party_report(body: dict[str, Any]) -> PartyReport:
    """Report to a community as a party member (双报到); staff of that community decide."""
    return services.submit_party_report(
        current_principal(), body["community_id"], body["branch"], body.get("employer")
    )


@blp.route("/me/party-report", methods=["GET"])
@auth_required("user")
@blp.response(200, MyPartyReportSchema)
@blp.alt_response(404, description="PARTY_REPORT_NOT_FOUND: I never reported")
def get_my_party_report() -> PartyReport:
    """My latest party report: pending, approved or rejected (with the reason), and when decided."""
    return services.my_party_report(current_principal())


@blp.route("/party-reports", methods=["GET"])
@auth_required("staff")
@blp.arguments(PartyReportQuerySchema, location="query")
@blp.response(200, page_of(PartyReportSchema))
def list_party_reports(args: dict[str, Any]) -> dict[str, Any]:
    """Reports to the communities I look after, oldest first."""
    items, total = services.list_party_reports(
        current_principal(), args.get("status"), args["page"], args["page_size"]
    )
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/party-reports/<int:report_id>/approve", methods=["POST"])
@auth_required("staff")
@blp.response(200, PartyReportSchema)
def approve_party_report(report_id: int) -> PartyReport:
    """Approve: the user becomes a party member of that community."""
    return services.approve_party_report(current_principal(), report_id)


@blp.route("/party-reports/<int:report_id>/reject", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, PartyReportSchema)
def reject_party_report(body: dict[str, str], report_id: int) -> PartyReport:
    """Reject with a reason the user will read."""
    return services.reject_party_report(current_principal(), report_id, body["reason"])


@blp.route("/me/community-moves", methods=["POST"])
@auth_required("user")
@idempotent("community_move.apply")
@blp.arguments(CommunityMoveCreateSchema)
@blp.response(201, CommunityMoveSchema)
def apply_for_move(body: dict[str, Any]) -> CommunityMove:
    """Apply to live in another community; its staff decide, and until then I stay where I am.

    Sending it again while it waits answers the same move (201, same id); applying to another community
    withdraws the waiting one (cancelled) and opens a new one."""
    return moves.apply_for_move(current_principal(), body["community_id"], body["reason"])


@blp.route("/me/community-moves", methods=["GET"])
@auth_required("user")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(CommunityMoveSchema))
def my_moves(args: dict[str, Any]) -> dict[str, Any]:
    """My community moves, newest first."""
    items, total = moves.my_moves(current_principal(), args["page"], args["page_size"])
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/community-moves", methods=["GET"])
@auth_required("staff")
@blp.arguments(CommunityMoveQuerySchema, location="query")
@blp.response(200, page_of(CommunityMoveSchema))
def list_moves(args: dict[str, Any]) -> dict[str, Any]:
    """Moves into the communities I look after, oldest first."""
    items, total = moves.list_moves(
        current_principal(), args.get("status"), args["page"], args["page_size"], args.get("community_id")
    )
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/community-moves/<int:move_id>/approve", methods=["POST"])
@auth_required("staff")
@blp.response(200, CommunityMoveSchema)
def approve_move(move_id: int) -> CommunityMove:
    """Approve: the resident now lives in my community (again: the same answer)."""
    return moves.approve_move(current_principal(), move_id)


@blp.route("/community-moves/<int:move_id>/reject", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, CommunityMoveSchema)
def reject_move(body: dict[str, str], move_id: int) -> CommunityMove:
    """Reject with a reason the resident will read; they stay in their community."""
    return moves.reject_move(current_principal(), move_id, body["reason"])


@blp.route("/communities/<int:community_id>/volunteers", methods=["GET"])
@auth_required("staff")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(VolunteerSchema))
def list_volunteers(args: dict[str, Any], community_id: int) -> dict[str, Any]:
    """Registered volunteers of a community (its staff)."""
    users, total = services.list_volunteers(
        current_principal(), community_id, args["page"], args["page_size"]
    )
    return page_body(users, total, args["page"], args["page_size"])


@blp.route("/communities/<int:community_id>/volunteers", methods=["POST"])
@auth_required("staff")
@blp.arguments(VolunteerCreateSchema)
@blp.response(200, VolunteerSchema)
def register_volunteer(body: dict[str, int], community_id: int) -> Any:
    """Register a resident as a volunteer (志愿者) of the community; they may then claim its wishes."""
    return services.register_volunteer(current_principal(), community_id, body["user_id"])


@blp.route("/communities/<int:community_id>/volunteers/<int:user_id>", methods=["DELETE"])
@auth_required("staff")
@blp.response(204)
def remove_volunteer(community_id: int, user_id: int) -> None:
    """Take a volunteer off the community's list."""
    services.remove_volunteer(current_principal(), community_id, user_id)


@blp.route("/users/<int:user_id>/disable", methods=["POST"])
@auth_required("staff")
@blp.arguments(DisableSchema)
@blp.response(200, UserStaffSchema)
@blp.alt_response(404, description="USER_NOT_FOUND: unknown, or not of a community I look after")
@blp.alt_response(422, description="REASON_REQUIRED")
def disable_user(body: dict[str, str], user_id: int) -> User:
    """Disable a resident of my community (with a reason): login, refresh and every request then answer
    401 ACCOUNT_DISABLED, and their sessions end. Again: the same state, unchanged."""
    return services.disable_user(current_principal(), user_id, body["reason"])


@blp.route("/users/<int:user_id>/enable", methods=["POST"])
@auth_required("staff")
@blp.response(200, UserStaffSchema)
@blp.alt_response(404, description="USER_NOT_FOUND: unknown, or not of a community I look after")
def enable_user(user_id: int) -> User:
    """Give a disabled resident their account back; they log in afresh. Again: the same state."""
    return services.enable_user(current_principal(), user_id)
