"""Routes of points: balances, history, rules, adjustments, reversals, leaderboards."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from points import services
from points.ledger import LedgerResult
from points.models import PointsRule
from points.schemas import (
    AdjustmentSchema,
    BalanceSchema,
    HistoryArgs,
    HistoryItemSchema,
    LeaderboardArgs,
    LeaderboardSchema,
    MemberPointsSchema,
    MyHistoryArgs,
    ReverseSchema,
    RuleListSchema,
    RuleSchema,
    RuleUpdateSchema,
    TransactionSchema,
)
from server.auth.policy import auth_required, current_principal, current_user_id
from server.errors import AppError, Conflict
from server.idempotency import document_idempotency_key, idempotency_key
from server.orgs.services import communities_under, get_community, get_org_by_code
from server.schemas import newest_first_page_of, page_body, page_of

blp = Blueprint("points", __name__, url_prefix="/api/v1", description="Points: balances, rules, leaderboards")


def _raise_if_refused(result: LedgerResult) -> None:
    if result.status == "refused":
        raise Conflict(result.code or "CONFLICT")


def _transaction_body(transaction_id: int) -> dict[str, Any]:
    return services.transaction_view(transaction_id).__dict__


@blp.route("/me/points", methods=["GET"])
@auth_required("user")
@blp.response(200, BalanceSchema)
def my_points() -> services.Balance:
    """My available and held points and my totals."""
    return services.balance_of(current_user_id())


@blp.route("/me/points/history", methods=["GET"])
@auth_required("user")
@blp.arguments(MyHistoryArgs, location="query")
@blp.response(200, newest_first_page_of(HistoryItemSchema))
def my_history(args: dict[str, Any]) -> dict[str, Any]:
    """How my available points moved, newest first (``?before_id=`` pages without repeats)."""
    items, total, next_before_id = services.history_page(
        current_user_id(), args["page"], args["page_size"], args.get("before_id")
    )
    return {**page_body(items, total, args["page"], args["page_size"]), "next_before_id": next_before_id}


@blp.route("/points/rules", methods=["GET"])
@auth_required()
@blp.response(200, RuleListSchema)
def list_rules() -> dict[str, Any]:
    """Every points rule."""
    rules = services.list_rules()
    return {"items": rules, "total": len(rules)}


@blp.route("/points/rules", methods=["POST"])
@auth_required("staff")
@blp.arguments(RuleSchema)
@blp.response(201, RuleSchema)
def create_rule(body: dict[str, Any]) -> PointsRule:
    """Add a rule (admins of the whole deployment)."""
    return services.create_rule(current_principal(), body)


@blp.route("/points/rules/<string:code>", methods=["PATCH"])
@auth_required("staff")
@blp.arguments(RuleUpdateSchema(partial=True))
@blp.response(200, RuleSchema)
def update_rule(body: dict[str, Any], code: str) -> PointsRule:
    """Change a rule: points, unit, caps, multiplier, active."""
    return services.update_rule(current_principal(), code, body)


@blp.route("/points/adjustments", methods=["POST"])
@auth_required("staff")
@document_idempotency_key  # the ledger keeps the key with the transaction (points/ledger.py)
@blp.arguments(AdjustmentSchema)
@blp.response(201, TransactionSchema)
def adjust(body: dict[str, Any]) -> dict[str, Any]:
    """Correct a member's points with a reason (audited); honours Idempotency-Key."""
    principal = current_principal()
    assert principal.staff is not None  # noqa: S101  (auth_required("staff") lets only staff in)
    result = services.adjust(
        principal,
        body["user_id"],
        body["amount"],
        body["reason"],
        idempotency_key(f"adjust:{principal.staff.id}"),
    )
    _raise_if_refused(result)
    assert result.transaction_id is not None  # noqa: S101  (a posting not refused has its transaction)
    return _transaction_body(result.transaction_id)


@blp.route("/points/transactions/<int:transaction_id>/reverse", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReverseSchema)
@blp.response(201, TransactionSchema)
def reverse(body: dict[str, str], transaction_id: int) -> dict[str, Any]:
    """Undo an award, adjustment, capture or expiry of a member in my communities."""
    result = services.reverse_as_staff(current_principal(), transaction_id, body["reason"])
    _raise_if_refused(result)
    assert result.transaction_id is not None  # noqa: S101  (a posting not refused has its transaction)
    return _transaction_body(result.transaction_id)


@blp.route("/points/members/<int:user_id>", methods=["GET"])
@auth_required("staff")
@blp.response(200, MemberPointsSchema)
def member_points(user_id: int) -> dict[str, Any]:
    """A member's balance, for staff of their community."""
    user = services.member_for_staff(current_principal(), user_id)
    balance = services.balance_of(user.id)
    return {
        **balance.__dict__,
        "user_id": user.id,
        "nickname": user.nickname,
        "phone_masked": user.phone_masked,
    }


@blp.route("/points/members/<int:user_id>/history", methods=["GET"])
@auth_required("staff")
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, page_of(HistoryItemSchema))
def member_history(args: dict[str, Any], user_id: int) -> dict[str, Any]:
    """A member's points history, for staff of their community."""
    user = services.member_for_staff(current_principal(), user_id)
    items, total = services.history_of(user.id, args["page"], args["page_size"])
    return page_body(items, total, args["page"], args["page_size"])


@blp.route("/points/leaderboard", methods=["GET"])
@auth_required()
@blp.arguments(LeaderboardArgs, location="query")
@blp.response(200, LeaderboardSchema)
def leaderboard(args: dict[str, Any]) -> dict[str, Any]:
    """Members ranked by points earned in the period, in a community or subtree; ``me``: where I stand."""
    principal = current_principal()
    if "org" in args:
        communities = communities_under(get_org_by_code(args["org"]))
    elif "community_id" in args:
        communities = [get_community(args["community_id"]).id]
    else:
        own = principal.user.community_id if principal.user else None
        if own is None and principal.staff is not None:
            communities = communities_under(principal.staff.org)
        elif own is None:
            raise AppError("NO_COMMUNITY", status=422)
        else:
            communities = [own]
    period = args["period"]
    rows = services.leaderboard(communities, period, args["limit"])
    me = services.leaderboard_place(principal.user.id, communities, period) if principal.user else None
    return {"period": period, "items": rows, "me": me}
