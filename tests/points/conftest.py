"""Factories of the points tests."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from server.auth.policy import Principal
from server.db import db
from server.users.models import StaffAccount, User


@pytest.fixture
def in_app(app) -> Callable[[], Any]:
    """``with in_app(): ...`` runs inside an app context and commits at the end, like a request."""

    @contextmanager
    def context() -> Iterator[None]:
        with app.app_context():
            try:
                yield
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise

    return context


@pytest.fixture
def make_member(app, org_tree) -> Callable[..., int]:
    """Make a resident of a community (C1 by default), optionally a party member; returns the id."""
    counter = iter(range(1, 100_000))

    def make(community: str = "C1", party_member: bool = False, nickname: str = "张三丰") -> int:
        with app.app_context():
            community_id = org_tree[community].id
            user = User(openid=f"openid-member-{next(counter)}", nickname=nickname, community_id=community_id)
            if party_member:
                user.party_community_id = community_id
            db.session.add(user)
            db.session.commit()
            return user.id

    return make


@pytest.fixture
def staff_principal(app, make_staff) -> Callable[..., Principal]:
    """A staff caller for services, loaded in the current app context: ``staff_principal(org="C1")``."""

    def make(role: str = "staff", org: str = "C1") -> Principal:
        staff = make_staff(role=role, org=org)
        return Principal(kind="staff", staff=db.session.get(StaffAccount, staff.id))

    return make
