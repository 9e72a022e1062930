"""Volunteer applications (F5, the better way): a resident applies to volunteer for their own community and
its staff accept or decline. Over HTTP; the races need PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import db
from server.notifications.models import OutboxMessage
from server.users.models import VolunteerApplication
from tests.conftest import bearer
from tests.races import posting, race

APPLY = "/api/v1/me/volunteer-application"


@pytest.fixture
def resident(member):
    """``resident("name", community="C1")``: a resident living there; returns the tokens."""

    def make(name: str = "helper", community: str = "C1") -> dict[str, Any]:
        tokens: dict[str, Any] = member(points=0, name=name, community=community)
        return tokens

    return make


@pytest.fixture
def staff_of(make_staff, login_staff):
    """``staff_of("C1")``: the headers of a fresh staff account of that org unit."""

    def make(org: str, role: str = "staff") -> dict[str, str]:
        return bearer(login_staff(make_staff(role=role, org=org)))

    return make


def _apply(client, tokens, community_id: int, note: str = "周末有空，会修电器") -> Any:
    return client.post(APPLY, json={"community_id": community_id, "note": note}, headers=bearer(tokens))


def _code(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def _roles(client, tokens) -> list[str]:
    roles: list[str] = client.get("/api/v1/me", headers=bearer(tokens)).get_json()["roles"]
    return roles


def _events(app, user_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(OutboxMessage.event)
                .where(
                    OutboxMessage.user_id == user_id, OutboxMessage.event.startswith("volunteer_application.")
                )
                .order_by(OutboxMessage.id)
            )
        )


def test_a_resident_applies_and_staff_accept_onto_the_roll_once(app, client, resident, staff_of, org_tree):
    tokens = resident()
    applied = _apply(client, tokens, org_tree["C1"].id)
    assert applied.status_code == 201, applied.get_json()
    body = applied.get_json()
    assert (body["status"], body["community"], body["note"]) == ("pending", "一社区", "周末有空，会修电器")
    assert "volunteer" not in _roles(client, tokens)
    resend = _apply(client, tokens, org_tree["C1"].id)
    assert (resend.status_code, resend.get_json()["id"]) == (201, body["id"])
    staff = staff_of("C1")
    queue = client.get("/api/v1/volunteer-applications?status=pending", headers=staff).get_json()
    assert [a["id"] for a in queue["items"]] == [body["id"]]
    accepted = client.post(f"/api/v1/volunteer-applications/{body['id']}/accept", headers=staff)
    assert (accepted.status_code, accepted.get_json()["status"]) == (200, "accepted")
    again = client.post(f"/api/v1/volunteer-applications/{body['id']}/accept", headers=staff)
    assert again.get_json() == accepted.get_json()
    assert "volunteer" in _roles(client, tokens)
    roll = client.get(f"/api/v1/communities/{org_tree['C1'].id}/volunteers", headers=staff).get_json()
    assert [v["id"] for v in roll["items"]] == [tokens["user"]["id"]]
    assert _events(app, tokens["user"]["id"]) == ["volunteer_application.accepted"]
    # The phone resends the application after the answer was lost: the same accepted application.
    late = _apply(client, tokens, org_tree["C1"].id)
    assert (late.status_code, late.get_json()["id"], late.get_json()["status"]) == (
        201,
        body["id"],
        "accepted",
    )
    mine = client.get(APPLY, headers=bearer(tokens)).get_json()["application"]
    assert (mine["id"], mine["status"]) == (body["id"], "accepted")
    with app.app_context():
        audited = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "volunteer.registered")
        ).all()
        assert [(e.subject_id, e.detail) for e in audited] == [
            (tokens["user"]["id"], {"application_id": body["id"]})
        ]


def test_only_ones_own_community_may_be_applied_to(app, client, resident, org_tree):
    tokens = resident(community="C1")
    assert _code(_apply(client, tokens, org_tree["C2"].id)) == (403, "NOT_YOUR_COMMUNITY_VOLUNTEER")
    assert _code(_apply(client, tokens, org_tree["S1"].id)) == (422, "NOT_A_COMMUNITY")
    with app.app_context():
        assert db.session.scalars(select(VolunteerApplication)).all() == []


def test_a_decline_tells_the_resident_why_and_the_opposite_decision_is_refused(
    app, client, resident, staff_of, org_tree
):
    tokens = resident()
    application_id = _apply(client, tokens, org_tree["C1"].id).get_json()["id"]
    staff = staff_of("C1")
    no_reason = client.post(
        f"/api/v1/volunteer-applications/{application_id}/decline", json={"reason": ""}, headers=staff
    )
    assert no_reason.status_code == 422
    declined = client.post(
        f"/api/v1/volunteer-applications/{application_id}/decline", json={"reason": "名额已满"}, headers=staff
    )
    assert (declined.get_json()["status"], declined.get_json()["decision_reason"]) == ("declined", "名额已满")
    assert _code(client.post(f"/api/v1/volunteer-applications/{application_id}/accept", headers=staff)) == (
        409,
        "VOLUNTEER_APPLICATION_DECIDED",
    )
    assert "volunteer" not in _roles(client, tokens)
    assert _events(app, tokens["user"]["id"]) == ["volunteer_application.declined"]
    again = _apply(client, tokens, org_tree["C1"].id)
    assert again.status_code == 201 and again.get_json()["id"] != application_id  # a new try is a new row


def test_withdrawing_is_safe_to_resend_and_a_withdrawn_application_cannot_be_accepted(
    client, resident, staff_of, org_tree
):
    tokens = resident()
    application_id = _apply(client, tokens, org_tree["C1"].id).get_json()["id"]
    assert client.delete(APPLY, headers=bearer(tokens)).status_code == 204
    assert client.delete(APPLY, headers=bearer(tokens)).status_code == 204
    assert client.get(APPLY, headers=bearer(tokens)).get_json()["application"]["status"] == "withdrawn"
    staff = staff_of("C1")
    assert _code(client.post(f"/api/v1/volunteer-applications/{application_id}/accept", headers=staff)) == (
        409,
        "VOLUNTEER_APPLICATION_DECIDED",
    )


def test_other_communities_staff_see_no_application(client, resident, staff_of, org_tree):
    tokens = resident()
    application_id = _apply(client, tokens, org_tree["C1"].id).get_json()["id"]
    other = staff_of("C3")
    assert client.get("/api/v1/volunteer-applications", headers=other).get_json()["items"] == []
    for action in ("accept", "decline"):
        refused = client.post(
            f"/api/v1/volunteer-applications/{application_id}/{action}", json={"reason": "x"}, headers=other
        )
        assert _code(refused) == (404, "VOLUNTEER_APPLICATION_NOT_FOUND")
    assert (
        client.get("/api/v1/volunteer-applications", headers=staff_of("S1", "admin")).get_json()["total"] == 1
    )
    assert (
        client.post(APPLY, json={"community_id": org_tree["C1"].id}, headers=staff_of("C1")).status_code
        == 403
    )


def test_a_party_member_may_apply_to_the_community_they_reported_to(app, client, resident, org_tree):
    from server.users.models import User

    tokens = resident(community="C1")
    with app.app_context():
        user = db.session.get(User, tokens["user"]["id"])
        assert user is not None
        user.party_community_id = org_tree["C2"].id
        db.session.commit()
    assert _apply(client, tokens, org_tree["C2"].id).status_code == 201


def test_the_console_queue_accepts_in_bulk_and_the_roll_removes(
    app, client, console, make_staff, resident, org_tree
):
    first, second = resident("a"), resident("b")
    ids = [_apply(client, t, org_tree["C1"].id).get_json()["id"] for t in (first, second)]
    session = console(make_staff(org="C1"))
    page = session.get("/console/volunteers").get_data(as_text=True)
    assert f"application-{ids[0]}" in page and "周末有空，会修电器" in page
    assert "志愿者申请待审核" in session.get("/console/").get_data(as_text=True)
    done = session.post(
        "/console/volunteer-applications/accept", {"ids": [str(i) for i in ids]}, follow_redirects=True
    )
    text = done.get_data(as_text=True)
    assert f"#{ids[0]} 已通过" in text and f"#{ids[1]} 已通过" in text
    roll = session.get("/console/volunteers?status=accepted").get_data(as_text=True)
    assert f'id="volunteer-{first["user"]["id"]}"' in roll
    removed = session.post(
        f"/console/volunteers/{org_tree['C1'].id}/{first['user']['id']}/remove", follow_redirects=True
    ).get_data(as_text=True)
    assert "已移出志愿者名册" in removed
    assert "volunteer" not in _roles(client, first) and "volunteer" in _roles(client, second)


@pytest.mark.postgres
def test_an_application_sent_six_times_at_once_is_one_row(app, resident, org_tree):
    tokens = resident()
    results = race(
        [posting(app, APPLY, bearer(tokens), {"community_id": org_tree["C1"].id}) for _ in range(6)]
    )
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1


@pytest.mark.postgres
def test_accepts_racing_declines_leave_one_decision(app, client, resident, staff_of, org_tree):
    for round_ in range(3):
        tokens = resident(f"racer{round_}")
        application_id = _apply(client, tokens, org_tree["C1"].id).get_json()["id"]
        headers = staff_of("C1")
        calls = [
            posting(app, f"/api/v1/volunteer-applications/{application_id}/accept", headers)
            if i % 2
            else posting(
                app, f"/api/v1/volunteer-applications/{application_id}/decline", headers, {"reason": "不符"}
            )
            for i in range(8)
        ]
        results = race(calls)
        winners = {body["status"] for status, body in results if status == 200}
        assert len(winners) == 1, results
        losers = [(status, body["error"]["code"]) for status, body in results if status != 200]
        assert losers == [(409, "VOLUNTEER_APPLICATION_DECIDED")] * 4
        (decision,) = winners
        assert ("volunteer" in _roles(client, tokens)) == (decision == "accepted")
