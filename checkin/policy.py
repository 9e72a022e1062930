"""Who may manage stations and activities; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context

from server.auth.policy import Principal, rule


@rule("checkin.manage")
def _manage(principal: Principal, community: Any) -> bool:
    """Staff manage the stations and activities of the communities they look after."""
    return principal.covers(community)


def sees_fence(community: Any) -> bool:
    """Whether the caller of this request may see a place's geo-fence (centre and radius): staff of its
    community. Residents learn only that there is one; sent back, it would be a check-in from home."""
    principal: Principal | None = g.get("linli_principal") if has_request_context() else None
    return principal is not None and principal.covers(community)
