"""Routes of volunteer applications: a resident applies, the community's staff accept or decline."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal
from server.schemas import page_body, page_of
from server.users import volunteers
from server.users.models import VolunteerApplication
from server.users.schemas import (
    MyVolunteerApplicationSchema,
    ReasonSchema,
    VolunteerApplicationCreateSchema,
    VolunteerApplicationQuerySchema,
    VolunteerApplicationSchema,
)

blp = Blueprint(
    "volunteers", __name__, url_prefix="/api/v1", description="Volunteer applications (志愿者申请)"
)


@blp.route("/me/volunteer-application", methods=["POST"])
@auth_required("user")
@blp.arguments(VolunteerApplicationCreateSchema)
@blp.response(201, VolunteerApplicationSchema)
def apply_to_volunteer(body: dict[str, Any]) -> VolunteerApplication:
    """Apply to volunteer for my community; its staff decide.

    Sending it again answers the same application (201, same id), also once accepted; applying to another
    community withdraws the waiting one."""
    return volunteers.apply_to_volunteer(current_principal(), body["community_id"], body["note"])


@blp.route("/me/volunteer-application", methods=["GET"])
@auth_required("user")
@blp.response(200, MyVolunteerApplicationSchema)
def my_application() -> dict[str, Any]:
    """My latest volunteer application and what became of it."""
    return {"application": volunteers.my_application(current_principal())}


@blp.route("/me/volunteer-application", methods=["DELETE"])
@auth_required("user")
@blp.response(204)
def withdraw_application() -> None:
    """Withdraw my waiting application (nothing waiting: nothing to do, also 204)."""
    volunteers.withdraw_application(current_principal())


@blp.route("/volunteer-applications", methods=["GET"])
@auth_required("staff")
@blp.arguments(VolunteerApplicationQuerySchema, location="query")
@blp.response(200, page_of(VolunteerApplicationSchema))
def list_applications(args: dict[str, Any]) -> dict[str, Any]:
    """Applications to the communities I look after, oldest first."""
    items, total = volunteers.list_applications(
        current_principal(), args.get("status"), args["page"], args["page_size"], args.get("community_id")
    )
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/volunteer-applications/<int:application_id>/accept", methods=["POST"])
@auth_required("staff")
@blp.response(200, VolunteerApplicationSchema)
def accept_application(application_id: int) -> VolunteerApplication:
    """Accept: the resident is on my community's volunteer roll (again: the same answer)."""
    return volunteers.accept_application(current_principal(), application_id)


@blp.route("/volunteer-applications/<int:application_id>/decline", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReasonSchema)
@blp.response(200, VolunteerApplicationSchema)
def decline_application(body: dict[str, str], application_id: int) -> VolunteerApplication:
    """Decline with a reason the resident will read."""
    return volunteers.decline_application(current_principal(), application_id, body["reason"])
