"""Who may run the supermarket; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("store.manage")
def _manage(principal: Principal, community: Any) -> bool:
    """Staff run the supermarkets of the communities they look after."""
    return principal.covers(community)
