"""Fixtures of the report tests: a clock, staff of every community, and the seeded first quarter of 2026."""

from collections.abc import Callable

import pytest

from tests.conftest import Clock, bearer
from tests.reports.seed import Seeder, Story, install_clock, seed_story


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """One clock for check-in, the ledger, the store and wishes."""
    return install_clock(monkeypatch)


@pytest.fixture
def staff_of(make_staff, login_staff) -> Callable[[str], dict[str, str]]:
    """The Authorization header of a (new) staff member of an org unit: ``staff_of("S1")``."""

    def make(org: str) -> dict[str, str]:
        return bearer(login_staff(make_staff(org=org)))

    return make


@pytest.fixture
def seeder(app, client, clock, org_tree, staff_of) -> Seeder:
    """A seeder with staff of C1, C2 and C3."""
    return Seeder(app, client, clock, org_tree, {code: staff_of(code) for code in ("C1", "C2", "C3")})


@pytest.fixture
def story(seeder, login_user) -> Story:
    """The seeded story (see ``seed_story``)."""
    return seed_story(seeder, login_user)
