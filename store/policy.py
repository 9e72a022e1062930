"""Who may do what in the supermarket."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("store.manage")
def manage(principal: Principal, community: Any) -> bool:
    """Staff run the supermarkets of the communities they look after."""
    return principal.covers(community)
