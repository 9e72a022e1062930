"""Who may do what with points; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("points.rules.manage")
def _manage_rules(principal: Principal, _target: Any) -> bool:
    """Rules are deployment-wide, so only an admin of a root of the org tree edits them."""
    return principal.is_admin and principal.staff is not None and principal.staff.org.parent_id is None


@rule("points.adjust")
def _adjust(principal: Principal, user: Any) -> bool:
    """Staff adjust the points of a member of, or reported to, a community they look after: where the
    member is now (an adjustment is booked to that community), never where they used to be."""
    return principal.covers(user.community) or principal.covers(user.party_community)


@rule("points.reverse")
def _reverse(principal: Principal, community: Any) -> bool:
    """Staff undo a transaction booked to a community they look after. It is the transaction's community
    that decides, not where the member lives now: a C01 award or redemption stays C01's to undo after the
    member moves to C02, and C02's staff cannot touch C01's ledger."""
    return principal.covers(community)


@rule("points.view_member")
def _view_member(principal: Principal, user: Any) -> bool:
    """Staff see the points of a member of, or reported to, a community they look after."""
    return principal.covers(user.community) or principal.covers(user.party_community)
