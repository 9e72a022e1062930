"""F7: a wish's contact is shared with care. No phone unless the resident ticks "use my bound phone";
each time the contact is shown to a claimer or staff an audit row is written (and staff see the list on the
wish's console page); a member claims at most WISH_CLAIMS_PER_DAY wishes a local day and, after giving one
back, waits WISH_RECLAIM_COOLDOWN_HOURS — so claim → read the contact → unclaim cannot harvest contacts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import db
from server.users.models import User
from tests.conftest import Clock, Staff
from tests.races import race
from wishes.jobs import sweep_wish_claims
from wishes.models import WishClaim

REVEALED = "wish.contact_revealed"
HOME = {"address": "阳光小区3号楼502", "contact_name": "王阿姨"}


def _code(response: Any) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def _bind_phone(app: Flask, client: FlaskClient, who: Any, name: str) -> str:
    """Bind the fake WeChat's phone of ``name`` to ``who``; returns the number."""
    response = client.post("/api/v1/me/phone", json={"code": f"phone-{name}.1"}, headers=who.headers)
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        user = db.session.get(User, who.id)
        assert user is not None and user.phone
        return user.phone


def _reveals(
    app: Flask, wish_id: int, kind: str | None = None
) -> list[tuple[str, int | None, list[str], int | None]]:
    """(actor kind, actor id, fields, community) of each audited reveal of the wish's contact, in order;
    only those by users or by staff with ``kind`` (staff approving a wish were shown its contact too)."""
    with app.app_context():
        query = select(AuditEntry).where(
            AuditEntry.action == REVEALED,
            AuditEntry.subject_kind == "wish",
            AuditEntry.subject_id == wish_id,
        )
        if kind is not None:
            query = query.where(AuditEntry.actor_kind == kind)
        entries = db.session.scalars(query.order_by(AuditEntry.id)).all()
        return [(e.actor_kind, e.actor_id, e.detail["fields"], e.community_id) for e in entries]


def _claims_of(app: Flask, user_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(WishClaim.wish_id, WishClaim.outcome)
            .where(WishClaim.user_id == user_id)
            .order_by(WishClaim.id)
        ).all()
        return [(wish_id, outcome) for wish_id, outcome in rows]


def _claim(client: FlaskClient, who: Any, wish_id: int) -> Any:
    return client.post(f"/api/v1/wishes/{wish_id}/claim", headers=who.headers)


def _release(client: FlaskClient, staff: dict[str, str], wish_id: int) -> None:
    response = client.post(
        f"/api/v1/wishes/{wish_id}/release", json={"reason": "联系不上认领人"}, headers=staff
    )
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def more_posts(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resident may post many wishes here: the posting limits have their own tests."""
    monkeypatch.setitem(app.config, "WISH_POST_RATE_LIMIT", "1000 per day")


# --- the contact phone ---------------------------------------------------------------------------------


def test_a_wish_has_no_phone_unless_the_resident_ticks_it_or_gives_one(
    app, client, person, post_wish, monkeypatch
):
    monkeypatch.setitem(app.config, "WISH_MAX_PENDING", 10)  # four wishes wait for review at once
    resident = person("granny")
    bound = _bind_phone(app, client, resident, "granny")

    untouched = post_wish(resident, title="默认不带电话")
    ticked = post_wish(resident, title="勾选了绑定手机", use_bound_phone=True)
    given = post_wish(resident, title="填写了别的电话", use_bound_phone=True, contact_phone="13700001111")
    unticked = post_wish(resident, title="明确不勾选", use_bound_phone=False)

    assert untouched["contact"]["phone"] is None
    assert ticked["contact"]["phone"] == bound
    assert given["contact"]["phone"] == "13700001111"
    assert unticked["contact"]["phone"] is None
    again = client.get(f"/api/v1/wishes/{untouched['id']}", headers=resident.headers).get_json()
    assert again["contact"]["phone"] is None


def test_ticking_the_bound_phone_without_one_bound_leaves_it_empty(client, person, post_wish):
    resident = person("granny")
    assert post_wish(resident, use_bound_phone=True)["contact"]["phone"] is None


def test_use_bound_phone_must_be_a_boolean(client, person):
    resident = person("granny")
    body = {
        "title": "修水龙头",
        "content": "厨房水龙头一直滴水。",
        "category": "生活帮扶",
        "use_bound_phone": "maybe",
    }
    response = client.post("/api/v1/wishes", json=body, headers=resident.headers)
    assert (response.status_code, _code(response)) == (422, "VALIDATION_ERROR")
    assert "use_bound_phone" in response.get_json()["error"]["details"]["fields"]


# --- the harvest of the review (F7) -------------------------------------------------------------------


def _harvest(client: FlaskClient, member: Any, wish_ids: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """The review's reproduction: for each wish, claim it, read its contact, give it back. Returns the
    contacts read and the codes of the refused claims."""
    seen, refused = [], []
    for wish_id in wish_ids:
        claimed = _claim(client, member, wish_id)
        if claimed.status_code != 200:
            refused.append(_code(claimed))
            continue
        seen.append(client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["contact"])
        assert client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers).status_code == 200
    return seen, refused


def test_claim_read_unclaim_rounds_stop_at_the_cooldown(app, client, person, wish_in, more_posts):
    residents = [person(f"resident{i}") for i in range(5)]
    for i, resident in enumerate(residents):
        _bind_phone(app, client, resident, f"resident{i}")
    wish_ids = [wish_in("open", r, use_bound_phone=True, **HOME) for r in residents]
    member = person("harvester", serves="volunteer")

    seen, refused = _harvest(client, member, wish_ids)

    assert len(seen) == 1 and seen[0]["phone"]
    assert refused == ["CLAIM_COOLDOWN"] * 4


def test_without_a_cooldown_the_days_limit_still_stops_the_harvest(
    app, client, person, wish_in, more_posts, monkeypatch
):
    monkeypatch.setitem(app.config, "WISH_RECLAIM_COOLDOWN_HOURS", 0)
    resident = person("granny")
    _bind_phone(app, client, resident, "granny")
    wish_ids = [wish_in("open", resident, use_bound_phone=True, title=f"心愿{i}号", **HOME) for i in range(6)]
    member = person("harvester", serves="volunteer")

    seen, refused = _harvest(client, member, wish_ids)

    assert len(seen) == app.config["WISH_CLAIMS_PER_DAY"] == 3
    assert refused == ["CLAIM_LIMIT_DAY"] * 3


# --- auditing each reveal -------------------------------------------------------------------------------


def test_each_answer_showing_the_contact_to_the_claimer_is_audited(app, client, person, wish_in):
    resident = person("granny")
    _bind_phone(app, client, resident, "granny")
    wish_id = wish_in("open", resident, use_bound_phone=True, **HOME)
    member = person("helper", serves="party")
    community = client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()["community_id"]
    everything = ["name", "phone", "address"]

    assert _claim(client, member, wish_id).get_json()["contact"] is not None  # the claim's answer: 1
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["contact"]  # 2
    mine = client.get("/api/v1/me/claims?active=true", headers=member.headers).get_json()["items"]
    assert [item["id"] for item in mine] == [wish_id] and mine[0]["contact"]  # 3
    assert _reveals(app, wish_id, "user") == [("user", member.id, everything, community)] * 3

    # The resident reading their own wish, and a bystander who is shown no contact: nothing audited.
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()["contact"]
    client.get("/api/v1/me/wishes", headers=resident.headers)
    bystander = person("bystander", serves="party")
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=bystander.headers).get_json()["contact"] is None
    assert len(_reveals(app, wish_id, "user")) == 3

    # Given back: no contact, nothing more audited.
    assert (
        client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers).get_json()["contact"] is None
    )
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["contact"] is None
    assert len(_reveals(app, wish_id, "user")) == 3


def test_the_audit_names_only_the_fields_the_contact_carried(app, client, person, wish_in):
    resident = person("granny", nickname="王阿姨")
    wish_id = wish_in("open", resident)  # no phone, no address: only the name
    member = person("helper", serves="party")
    assert _claim(client, member, wish_id).get_json()["contact"] == {
        "name": "王阿姨",
        "phone": None,
        "address": None,
    }
    assert [(kind, actor, fields) for kind, actor, fields, _ in _reveals(app, wish_id, "user")] == [
        ("user", member.id, ["name"])
    ]


def test_staff_reads_of_the_contact_are_audited_too(app, client, person, staff, wish_in):
    resident = person("granny")
    wish_id = wish_in("pending_review", resident, **HOME)
    before = len(_reveals(app, wish_id))
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=staff).get_json()["contact"]
    listed = client.get("/api/v1/wishes?status=pending_review", headers=staff).get_json()["items"]
    assert [item["id"] for item in listed] == [wish_id]
    after = _reveals(app, wish_id)[before:]
    assert [(kind, fields) for kind, _, fields, _ in after] == [("staff", ["name", "address"])] * 2


def _console(app: Flask, staff: Staff) -> FlaskClient:
    """A test client logged in to the console as ``staff``."""
    web = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/console/login").get_data(as_text=True))
    assert token is not None
    form = {"username": staff.username, "password": staff.password, "csrf_token": token[1]}
    assert web.post("/console/login", data=form).status_code == 302
    return web


def test_the_console_wish_page_lists_who_was_shown_the_contact(
    app, client, person, wish_in, make_staff, clock: Clock
):
    resident = person("granny", nickname="王阿姨")
    _bind_phone(app, client, resident, "granny")
    wish_id = wish_in("open", resident, use_bound_phone=True, **HOME)
    member = person("li", serves="party", nickname="李师傅")
    assert _claim(client, member, wish_id).status_code == 200
    client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers)
    staff = make_staff(org="C1", username="shequ_zhang")

    page = _console(app, staff).get(f"/console/wishes/{wish_id}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "联系方式查看记录" in html
    table = html.split('id="contact-reveals"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", table)
    local = (clock.now + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    approver = rows[0][0]  # the staff member who approved it (the approval's answer carried the contact)
    assert rows == [
        (approver, "工作人员", local, "联系人、电话、地址"),
        ("李师傅", "认领人", local, "联系人、电话、地址"),
        ("李师傅", "认领人", local, "联系人、电话、地址"),
        ("shequ_zhang", "工作人员", local, "联系人、电话、地址"),  # this very page
    ]
    assert approver.startswith("staff") and approver != "shequ_zhang"
    assert [kind for kind, *_ in _reveals(app, wish_id)] == ["staff", "user", "user", "staff"]


# --- claims a day, and the cooldown -------------------------------------------------------------------


def test_a_member_claims_at_most_the_days_limit_however_the_claims_ended(
    app, client, person, staff, wish_in, more_posts, clock: Clock
):
    resident = person("granny")
    wish_ids = [wish_in("open", resident, title=f"心愿{i}号") for i in range(5)]
    member = person("helper", serves="party")
    for wish_id in wish_ids[:3]:
        assert _claim(client, member, wish_id).status_code == 200
        _release(client, staff, wish_id)  # taken back by staff: it still counts, and starts no cooldown

    refused = _claim(client, member, wish_ids[3])

    assert (refused.status_code, _code(refused)) == (429, "CLAIM_LIMIT_DAY")
    # 10:00 on 1 December in Shanghai: the day ends at 16:00 UTC.
    assert refused.get_json()["error"]["details"] == {"limit": 3, "retry_after": "2026-12-01T16:00:00+00:00"}
    assert len(_claims_of(app, member.id)) == 3
    clock.now = datetime(2026, 12, 1, 15, 59, tzinfo=UTC)  # 23:59 local: still today
    assert _code(_claim(client, member, wish_ids[3])) == "CLAIM_LIMIT_DAY"
    clock.now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # local midnight: a new day
    assert _claim(client, member, wish_ids[3]).status_code == 200


def test_giving_a_wish_back_makes_the_member_wait_before_claiming_any_wish(
    app, client, person, wish_in, clock: Clock
):
    resident = person("granny")
    first, second = (wish_in("open", resident, title=t) for t in ("第一个心愿", "第二个心愿"))
    member = person("helper", serves="party")
    assert _claim(client, member, first).status_code == 200
    gave_back_at = clock.now
    assert client.post(f"/api/v1/wishes/{first}/unclaim", headers=member.headers).status_code == 200

    for wish_id in (first, second):
        refused = _claim(client, member, wish_id)
        assert (refused.status_code, _code(refused)) == (429, "CLAIM_COOLDOWN")
        retry_after = (gave_back_at + timedelta(hours=24)).isoformat()
        assert refused.get_json()["error"]["details"] == {"retry_after": retry_after}
    clock.now = gave_back_at + timedelta(hours=24) - timedelta(minutes=1)
    assert _code(_claim(client, member, second)) == "CLAIM_COOLDOWN"
    clock.now = gave_back_at + timedelta(hours=24)
    assert _claim(client, member, second).status_code == 200
    # Someone else may claim the given-back wish at once.
    assert _claim(client, person("other", serves="party"), first).status_code == 200


def test_a_release_by_staff_or_the_deadline_starts_no_cooldown(
    app, client, person, staff, wish_in, clock: Clock
):
    resident = person("granny")
    released, expired, next_one = (
        wish_in("open", resident, title=t) for t in ("被收回的", "超期的", "下一个")
    )
    member = person("helper", serves="party")
    assert _claim(client, member, released).status_code == 200
    _release(client, staff, released)
    assert _claim(client, member, expired).status_code == 200  # right after the release

    clock.now += timedelta(days=int(app.config["WISH_CLAIM_DAYS"]), minutes=1)
    with app.app_context():
        assert sweep_wish_claims()["released"] == 1
    assert _claim(client, member, next_one).status_code == 200  # right after the deadline's release
    assert [outcome for _, outcome in _claims_of(app, member.id)] == ["released", "expired", "active"]


def test_a_resent_claim_answers_the_same_and_counts_once(app, client, person, wish_in, monkeypatch):
    monkeypatch.setitem(app.config, "WISH_CLAIMS_PER_DAY", 1)
    resident = person("granny")
    wish_id, other = (wish_in("open", resident, title=t) for t in ("第一个心愿", "第二个心愿"))
    member = person("helper", serves="party")

    first, again = _claim(client, member, wish_id), _claim(client, member, wish_id)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert _claims_of(app, member.id) == [(wish_id, "active")]
    assert _code(_claim(client, member, other)) == "CLAIM_LIMIT_DAY"  # the resend did not count


def test_another_members_claim_of_a_claimed_wish_is_still_refused(client, person, wish_in):
    resident = person("granny")
    member, late = person("helper", serves="party"), person("late", serves="party")
    wish_id = wish_in("claimed", resident, member)
    refused = _claim(client, late, wish_id)
    assert (refused.status_code, _code(refused)) == (409, "WISH_ALREADY_CLAIMED")


# --- the race on PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_ten_parallel_claims_by_one_member_stop_at_the_days_limit(
    app, person, wish_in, more_posts, monkeypatch
):
    monkeypatch.setitem(app.config, "WISH_MAX_OPEN_CLAIMS", 100)  # only the day's limit bites
    resident = person("granny")
    wish_ids = [wish_in("open", resident, title=f"心愿{i}号") for i in range(10)]
    member = person("helper", serves="party")

    def claim(wish_id: int) -> Callable[[], tuple[int, str | None]]:
        def call() -> tuple[int, str | None]:
            response = app.test_client().post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers)
            body = response.get_json()
            return response.status_code, body["error"]["code"] if response.status_code != 200 else None

        return call

    results = race([claim(w) for w in wish_ids])

    assert sorted(results, key=lambda r: r[0]) == [(200, None)] * 3 + [(429, "CLAIM_LIMIT_DAY")] * 7
    won = {w for w, (status, _) in zip(wish_ids, results, strict=True) if status == 200}
    assert {wish_id for wish_id, _ in _claims_of(app, member.id)} == won
