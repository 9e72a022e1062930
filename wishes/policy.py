"""Who may review and manage wishes; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("wishes.manage")
def _manage(principal: Principal, community: Any) -> bool:
    """Staff review and manage the wishes of the communities they look after."""
    return principal.covers(community)
