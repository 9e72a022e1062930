"""Who may do what with community moves; registered with the one policy of server/auth/policy.py.

(The party-report and volunteer rules are older and stay with the core's rules in server/auth/policy.py.)
"""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("community_move.apply")
def _apply(principal: Principal, _target: Any) -> bool:
    """A resident applies to move; staff are not residents."""
    return principal.user is not None


@rule("community_move.list")
def _list(principal: Principal, _target: Any) -> bool:
    """Staff list the moves into the communities they look after."""
    return principal.is_staff


@rule("community_move.decide")
def _decide(principal: Principal, move: Any) -> bool:
    """Staff of the community the resident moves into decide (not those of the one they leave)."""
    return principal.covers(move.to_community)


@rule("community_move.history")
def _history(principal: Principal, user: Any) -> bool:
    """Staff who may open a member's page see where the member lived (the audience of points.view_member)."""
    return principal.covers(user.community) or principal.covers(user.party_community)
