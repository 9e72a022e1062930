"""Jobs of the supermarket, taking ids and safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from server import clock
from server.db import db
from server.jobs import each_in_own_transaction, job, periodic
from store import services


@periodic("expire_redemptions", every=timedelta(hours=1))
@job("low")
def expire_redemptions() -> dict[str, int]:
    """Expire requests left undecided and approvals never picked up, warn a day before (each alone)."""
    due = services.redemptions_due(
        clock.now(),
        request_days=int(current_app.config["STORE_REQUEST_DAYS"]),
        pickup_days=int(current_app.config["STORE_PICKUP_DAYS"]),
    )
    db.session.commit()
    return {
        "requests": each_in_own_transaction(due.stale_requests, services.expire_request, "expiry of request"),
        "approvals": each_in_own_transaction(
            due.stale_approvals, services.expire_approval, "expiry of approval"
        ),
        "warned": each_in_own_transaction(due.to_warn, services.warn_expiring, "expiry warning of"),
    }
