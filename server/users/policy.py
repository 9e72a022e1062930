"""Who may do what with community moves and volunteer applications; registered with the one policy of
server/auth/policy.py. (The party-report and volunteer-registration rules are older and stay with the
core's rules there.)
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


@rule("volunteer_application.apply")
def _apply_to_volunteer(principal: Principal, _target: Any) -> bool:
    """A resident applies to volunteer; staff are not residents."""
    return principal.user is not None


@rule("volunteer_application.list")
def _list_volunteer_applications(principal: Principal, _target: Any) -> bool:
    """Staff list the applications to the communities they look after."""
    return principal.is_staff


@rule("volunteer_application.decide")
def _decide_volunteer_application(principal: Principal, application: Any) -> bool:
    """Staff of the community applied to decide."""
    return principal.covers(application.community)


@rule("user.disable")
def _disable(principal: Principal, user: Any) -> bool:
    """Staff of the resident's community or party community disable and enable their account."""
    return principal.covers(user.community) or principal.covers(user.party_community)
