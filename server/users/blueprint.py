"""Routes of /me and the party-report flow."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal
from server.schemas import PageArgs, page_body, page_of
from server.users import services
from server.users.me import me_payload
from server.users.models import PartyReport
from server.users.schemas import (
    MePatchSchema,
    MeSchema,
    PartyReportCreateSchema,
    PartyReportQuerySchema,
    PartyReportSchema,
    PhoneCodeSchema,
    ReasonSchema,
    VolunteerCreateSchema,
    VolunteerSchema,
)

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Me, party reports")


def _me() -> dict[str, Any]:
    principal = current_principal()
    who = principal.user if principal.user is not None else principal.staff
    assert who is not None  # noqa: S101  (an authenticated principal is a user or staff)
    return me_payload(principal.kind, who)


@blp.route("/me", methods=["GET"])
@auth_required()
@blp.response(200, MeSchema)
def get_me() -> dict[str, Any]:
    """Who I am: roles, community, party membership, masked phone."""
    return _me()


@blp.route("/me", methods=["PATCH"])
@auth_required("user")
@blp.arguments(MePatchSchema)
@blp.response(200, MeSchema)
def patch_me(body: dict[str, Any]) -> dict[str, Any]:
    """Change my nickname or the community I live in."""
    user = current_principal().user
    assert user is not None  # noqa: S101  (auth_required("user") lets only users in)
    services.update_profile(user, body.get("nickname"), body.get("community_id"))
    return _me()


@blp.route("/me/phone", methods=["POST"])
@auth_required("user")
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
@blp.arguments(PartyReportCreateSchema)
@blp.response(201, PartyReportSchema)
def submit_party_report(body: dict[str, Any]) -> PartyReport:
    """Report to a community as a party member (双报到); staff of that community decide."""
    return services.submit_party_report(
        current_principal(), body["community_id"], body["branch"], body.get("employer")
    )


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
