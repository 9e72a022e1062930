"""Fixtures of the check-in tests: a staff member of C1 (the frozen ``clock`` is the root conftest's)."""

from typing import Any

import pytest

from tests.conftest import CLOCK_START, bearer

START = CLOCK_START


@pytest.fixture
def staff(make_staff, login_staff) -> dict[str, str]:
    """The Authorization header of a staff member of C1."""
    return bearer(login_staff(make_staff(org="C1")))


@pytest.fixture
def login_user(app, client, org_tree, login_user):
    """``login_user(name, community="C1", party=True)``: a resident of C1 and, unless ``party=False``, a
    party member of it: who comes to the party days these tests check in to. ``community=None`` is a
    resident who chose none."""

    def login(name: str = "resident", community: str | None = "C1", party: bool = True) -> dict[str, Any]:
        tokens: dict[str, Any] = login_user(name)
        with app.app_context():
            from server.db import db
            from server.users.models import User

            user = db.session.get_one(User, tokens["user"]["id"])
            org = org_tree[community].id if community else None
            user.community_id = org
            user.party_community_id = org if party else None
            db.session.commit()
        return tokens

    return login
