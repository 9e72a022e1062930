"""Fixtures of the check-in tests: a staff member of C1 (the frozen ``clock`` is the root conftest's)."""

import pytest

from tests.conftest import CLOCK_START, bearer

START = CLOCK_START


@pytest.fixture
def staff(make_staff, login_staff) -> dict[str, str]:
    """The Authorization header of a staff member of C1."""
    return bearer(login_staff(make_staff(org="C1")))
