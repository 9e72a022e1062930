"""Who may manage stations and activities; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("checkin.manage")
def _manage(principal: Principal, community: Any) -> bool:
    """Staff manage the stations and activities of the communities they look after."""
    return principal.covers(community)
