"""Who may read a report; registered with the one policy of server/auth/policy.py."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("reports.view")
def _view_report(principal: Principal, org: Any) -> bool:
    """Staff read the reports of an org unit inside their own subtree."""
    return principal.covers(org)
