"""Who may read a report: staff, for an org unit inside their own subtree."""

from __future__ import annotations

from typing import Any

from server.auth.policy import Principal, rule


@rule("reports.view")
def _view_report(principal: Principal, org: Any) -> bool:
    return principal.covers(org)
