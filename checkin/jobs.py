"""Jobs of check-in: close what was left open, remind signed-up members."""

from __future__ import annotations

from datetime import timedelta

from checkin import checkins, services
from server import clock
from server.db import db
from server.jobs import each_in_own_transaction, job, periodic


@periodic("close_open_checkins", every=timedelta(minutes=5))
@job("low")
def close_open_checkins() -> int:
    """Close check-ins left open after their window, with hours only up to the window, and flag them."""
    due = checkins.checkins_to_close(clock.now())
    db.session.commit()
    # One transaction per check-in: holding several members' ledger locks at once would deadlock
    # with their own check-outs.
    return each_in_own_transaction(
        list(due),
        lambda checkin_id: checkins.close_left_open(checkin_id, due[checkin_id]),
        "auto-close of check-in",
    )


@periodic("remind_signed_up", every=timedelta(minutes=5))
@job("low")
def remind_signed_up() -> int:
    """Remind signed-up members an hour before an activity starts (once per activity)."""
    now = clock.now()
    due = services.activities_to_remind(now)
    for activity in due:
        services.remind_signups(activity, now)
    return len(due)
