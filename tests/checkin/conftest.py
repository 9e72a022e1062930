"""Fixtures of the check-in tests: a frozen clock and a staff member of C1."""

from datetime import UTC, datetime

import pytest

from tests.conftest import bearer

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 December 2026, 10:00 in Shanghai


class Clock:
    """The time the check-in code sees; tests move it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Freeze the time of every check-in module at START."""
    frozen = Clock()
    for module in ("checkin.checkins", "checkin.services", "checkin.batches", "checkin.jobs"):
        monkeypatch.setattr(f"{module}.utcnow", frozen)
    return frozen


@pytest.fixture
def staff(make_staff, login_staff) -> dict[str, str]:
    """The Authorization header of a staff member of C1."""
    return bearer(login_staff(make_staff(org="C1")))
