"""Jobs of check-in: close what was left open, remind signed-up members."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from checkin.checkins import check_out, station_open_span
from checkin.models import Activity, CheckIn, Signup, Station
from server.db import db, utcnow
from server.jobs import job, periodic
from server.notifications.services import publish
from server.schemas import SERVER_ZONE

REMIND_BEFORE = timedelta(hours=1)


@periodic("close_open_checkins", every=timedelta(minutes=5))
@job("low")
def close_open_checkins() -> int:
    """Close check-ins left open after their window, with hours only up to the window, and flag them."""
    now = utcnow()
    closed = 0
    rows = db.session.execute(
        select(CheckIn, Activity)
        .join(Activity, Activity.id == CheckIn.activity_id)
        .where(CheckIn.status == "open", Activity.checkin_closes_at < now)
    ).all()
    # One transaction per check-in: holding several members' ledger locks at once would deadlock
    # with their own check-outs.
    targets = [(checkin.id, activity.checkin_closes_at) for checkin, activity in rows]
    visits = db.session.scalars(
        select(CheckIn).where(CheckIn.status == "open", CheckIn.station_id.is_not(None))
    )
    for checkin in visits:
        station = db.session.get(Station, checkin.station_id)
        span = station_open_span(station, checkin.checked_in_at) if station else None
        end = span[1] if span else checkin.checked_in_at
        if end < now:
            targets.append((checkin.id, end))
    db.session.commit()
    for checkin_id, end in targets:
        target = db.session.get(CheckIn, checkin_id)
        if target is not None and _close(target, end):
            closed += 1
        db.session.commit()
    return closed


def _close(checkin: CheckIn, at: datetime) -> bool:
    result = check_out(checkin.user_id, checkin.id, status="auto_closed", at=at)
    if result.status != "auto_closed":
        return False  # the member checked out first
    result.flags = [*result.flags, "left_open"]
    db.session.flush()
    return True


@periodic("remind_signed_up", every=timedelta(minutes=5))
@job("low")
def remind_signed_up() -> int:
    """Remind signed-up members an hour before an activity starts (once per activity)."""
    now = utcnow()
    due = db.session.scalars(
        select(Activity).where(
            Activity.reminded_at.is_(None),
            Activity.cancelled_at.is_(None),
            Activity.starts_at > now,
            Activity.starts_at <= now + REMIND_BEFORE,
        )
    ).all()
    for activity in due:
        members = list(db.session.scalars(select(Signup.user_id).where(Signup.activity_id == activity.id)))
        if members:
            publish(
                "activity.reminder",
                members,
                {
                    "activity_id": activity.id,
                    "title": activity.title,
                    "place": activity.place or (activity.station.name if activity.station else ""),
                    "starts_at": activity.starts_at.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M"),
                },
            )
        activity.reminded_at = now
    db.session.flush()
    return len(due)
