"""F6: no phone oracle. The console's member search finds a phone only by the whole number (a keyed hash)
or by its last four digits together with a name, never by a prefix; searches are rate-limited per staff
account and audited."""

from __future__ import annotations

import hashlib
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import select, text

from server.audit.models import AuditEntry
from server.db import db
from server.users.models import User, phone_lookup_hash
from tests.conftest import bearer
from tests.test_migrations import app_on

PHONE = "13824503164"


def _found(page: Any, query: str, user_id: int) -> bool:
    """Whether the member's link is on the result page of a search (how the review's script watched)."""
    response = page.get("/console/members", query_string={"q": query})
    assert response.status_code == 200, query
    return f"/console/members/{user_id}" in response.get_data(as_text=True)


def _searches(app: Any) -> list[tuple[str, int | None, dict[str, Any]]]:
    with app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "member.search").order_by(AuditEntry.id)
        )
        return [(e.actor_kind, e.actor_id, e.detail) for e in entries]


def _unlimited(app: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "MEMBER_SEARCH_RATE_LIMIT", "10000 per hour")


def test_the_reviews_prefix_oracle_rebuilds_nothing(app, member, make_staff, console, monkeypatch):
    _unlimited(app, monkeypatch)
    user_id = member(name="target", nickname="王阿姨", phone=PHONE)["user"]["id"]
    page = console(make_staff(org="C1"))

    # The review's script: grow the prefix one digit at a time (q=1*, 13*, 138*, …), keeping a digit when
    # the member's row appears.
    rebuilt = ""
    for _ in range(len(PHONE)):
        for digit in "0123456789":
            if _found(page, rebuilt + digit + "*", user_id):
                rebuilt += digit
                break
        else:
            break
    assert rebuilt == ""

    # No part of the number finds the member either: prefixes, prefix and suffix, the masked form, the
    # last four digits alone, ten of the eleven digits.
    for k in range(1, len(PHONE)):
        assert not _found(page, PHONE[:k], user_id), PHONE[:k]
        assert not _found(page, PHONE[:k] + "*", user_id), PHONE[:k] + "*"
    for query in ("138*3164", "138****3164", "138＊＊＊＊3164", "3164", "24503164", PHONE[1:], PHONE + "0"):
        assert not _found(page, query, user_id), query


def test_the_whole_number_or_the_last_four_digits_with_a_name_find_the_member(
    app, member, make_staff, console, monkeypatch
):
    _unlimited(app, monkeypatch)
    user_id = member(name="target", nickname="王阿姨", phone=PHONE)["user"]["id"]
    other_id = member(name="other", nickname="李大爷", phone="13900003164")["user"]["id"]
    page = console(make_staff(org="C1"))
    for query in (
        PHONE,
        "138 2450 3164",
        "138-2450-3164",
        "+86 138 2450 3164",
        "王 3164",
        "3164 王",
        "王阿姨3164",
    ):
        assert _found(page, query, user_id), query
        assert not _found(page, query, other_id), query
    for query in ("李 3164", "王 3165", "王 1382", "13824503165"):
        assert not _found(page, query, user_id), query
    assert _found(page, "王", user_id) and not _found(page, "王", other_id)  # names as before
    # another community's staff find nobody of C1, even by the whole number
    assert not _found(console(make_staff(org="C3")), PHONE, user_id)


def test_each_search_is_audited_with_the_number_masked(app, member, make_staff, console, monkeypatch):
    _unlimited(app, monkeypatch)
    member(name="target", nickname="王阿姨", phone=PHONE)
    staff = make_staff(org="C1")
    page = console(staff)
    page.get("/console/members")  # browsing the list is not a search
    for query in (PHONE, "王 3164", "王阿姨", "138*"):
        page.get("/console/members", query_string={"q": query})

    searches = _searches(app)
    assert [(kind, actor) for kind, actor, _ in searches] == [("staff", staff.id)] * 4
    assert [detail for _, _, detail in searches] == [
        {"query_kind": "full_phone", "query": "138****3164", "results": 1},
        {"query_kind": "last4_name", "query": "王 3164", "results": 1},
        {"query_kind": "name", "query": "王阿姨", "results": 1},
        {"query_kind": "name", "query": "138*", "results": 0},
    ]
    assert all(PHONE not in str(detail) for _, _, detail in searches)


def test_searches_are_rate_limited_per_staff_account(app, member, make_staff, console, monkeypatch):
    monkeypatch.setitem(app.config, "MEMBER_SEARCH_RATE_LIMIT", "3 per hour")
    member(name="target", nickname="王阿姨", phone=PHONE)
    first, second = make_staff(org="C1"), make_staff(org="C1")
    page = console(first)
    for query in ("王", "王 3164", PHONE):
        assert page.get("/console/members", query_string={"q": query}).status_code == 200
    refused = page.get("/console/members", query_string={"q": "王阿姨"})
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "操作过于频繁" in html and "<html" in html.lower()  # the console's page, in Chinese, not JSON
    assert page.get("/console/members").status_code == 200  # the list without words is not counted
    # another staff account has its own budget, wherever it logs in from
    assert console(second).get("/console/members", query_string={"q": "王"}).status_code == 200
    assert [actor for _, actor, _ in _searches(app)] == [first.id] * 3 + [second.id]


def test_the_lookup_columns_follow_the_phone_wherever_it_is_set(app, client, login_user):
    tokens = login_user("binder")
    bound = client.post("/api/v1/me/phone", json={"code": "binder.1"}, headers=bearer(tokens))
    assert bound.status_code == 200, bound.get_json()
    with app.app_context():
        user = db.session.get(User, tokens["user"]["id"])
        assert user is not None and user.phone
        phone = user.phone
        assert user.phone_hash == phone_lookup_hash(phone)
        assert user.phone_last4 == phone[-4:]
        # keyed: not the plain digest anyone could compute for every number
        assert user.phone_hash != hashlib.sha256(phone.encode()).hexdigest()
        assert phone_lookup_hash("+86 " + phone) == phone_lookup_hash(phone)
        user.phone = None
        assert user.phone_hash is None and user.phone_last4 is None
        user.phone = PHONE
        assert (user.phone_hash, user.phone_last4) == (phone_lookup_hash(PHONE), "3164")
        db.session.rollback()


def test_the_migration_fills_the_lookup_columns_of_existing_numbers(tmp_path, wechat_fake):
    with app_on(f"sqlite:///{tmp_path / 'backfill.sqlite3'}", wechat_fake.url):
        upgrade(revision="c3f392220003")
        db.session.execute(
            text(
                "INSERT INTO users (openid, nickname, phone, token_version, created_at) "
                "VALUES ('o-old', '王阿姨', :phone, 1, '2026-01-01'), "
                "('o-none', '李大爷', NULL, 1, '2026-01-01')"
            ),
            {"phone": PHONE},
        )
        db.session.commit()
        upgrade(revision="d4a4a3330004")
        rows = db.session.execute(text("SELECT openid, phone_hash, phone_last4 FROM users ORDER BY openid"))
        assert [tuple(row) for row in rows] == [
            ("o-none", None, None),
            ("o-old", phone_lookup_hash(PHONE), "3164"),
        ]
