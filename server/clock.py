"""The one clock of the app: the time now, the server's zone, and the local calendar built on them.

Code reads the time as ``clock.now()`` (never ``from server.clock import now``), so tests freeze every
module at once by replacing this one function (``tests/conftest.py``: the ``clock`` fixture).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SERVER_ZONE = ZoneInfo("Asia/Shanghai")  # caps, months, opening hours and reports follow its calendar


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def wall() -> datetime:
    """The machine's time, which tests never freeze: for lifetimes another clock checks (the access tokens
    PyJWT verifies against it, refresh tokens beside them, WeChat's access token in the cache)."""
    return datetime.now(UTC)


def local(moment: datetime) -> datetime:
    """A time as read in the server's zone."""
    return moment.astimezone(SERVER_ZONE)


def local_today(at: datetime | None = None) -> date:
    """The date in the server's zone (of ``at``, or now)."""
    return local(at or now()).date()


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def local_midnight(day: date) -> datetime:
    """The start of a local date, as an aware time in the server's zone."""
    return datetime(day.year, day.month, day.day, tzinfo=SERVER_ZONE)


def today_bounds(at: datetime | None = None) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight of today (of ``at``, or now), in UTC."""
    start = local_midnight(local_today(at))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
