"""The party-report flow: a resident reports, staff of that community decide."""

import threading

import pytest
from sqlalchemy import select

from server.users.models import PartyReport, User
from tests.conftest import bearer


@pytest.fixture
def report(client, login_user, org_tree):
    """A pending report of a fresh resident to C1; returns (report id, the resident's tokens)."""
    tokens = login_user("reporter")
    response = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C1"].id, "branch": "某公司第一党支部", "employer": "某公司"},
        headers=bearer(tokens),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "pending"
    return body["id"], tokens


def _snapshot(db_session):
    db_session.expire_all()
    reports = [(r.id, r.status, r.decided_by_id) for r in db_session.scalars(select(PartyReport))]
    members = [(u.id, u.party_community_id) for u in db_session.scalars(select(User))]
    db_session.rollback()  # end the read: on SQLite every transaction holds the write lock
    return reports, members


# who → expected status of POST /party-reports/{id}/approve on a report to C1 (under S1 under D1)
APPROVE_MATRIX = [
    ("anonymous", 401),
    ("resident", 403),
    ("party member of C1", 403),
    ("staff of C2", 403),
    ("staff of C3", 403),
    ("admin of S2", 403),
    ("staff of C1", 200),
    ("admin of S1", 200),
    ("admin of D1", 200),
]


@pytest.mark.parametrize(("who", "expected"), APPROVE_MATRIX)
def test_who_may_approve(
    client, report, who, expected, make_staff, login_staff, login_user, db_session, org_tree
):
    report_id, _ = report
    if who == "anonymous":
        headers = {}
    elif who == "resident":
        headers = bearer(login_user("someone"))
    elif who == "party member of C1":
        member = login_user("member")
        db_session.get(User, member["user"]["id"]).party_community_id = org_tree["C1"].id
        db_session.commit()
        headers = bearer(member)
    else:
        role, _, org = who.split()
        headers = bearer(login_staff(make_staff(role=role, org=org)))
    before = _snapshot(db_session)
    response = client.post(f"/api/v1/party-reports/{report_id}/approve", headers=headers)
    assert response.status_code == expected, response.get_json()
    after = _snapshot(db_session)
    if expected == 200:
        assert response.get_json()["status"] == "approved"
        assert after != before
    else:
        assert after == before  # a refusal changes nothing


def test_approval_makes_a_party_member_of_that_community(client, report, make_staff, login_staff, org_tree):
    report_id, tokens = report
    client.post(f"/api/v1/party-reports/{report_id}/approve", headers=bearer(login_staff(make_staff())))
    me = client.get("/api/v1/me", headers=bearer(tokens)).get_json()
    assert me["party_member"] is True
    assert me["party_community_id"] == org_tree["C1"].id
    assert "party_member" in me["roles"]


def test_approve_twice_is_a_conflict(client, report, make_staff, login_staff):
    report_id, _ = report
    headers = bearer(login_staff(make_staff()))
    assert client.post(f"/api/v1/party-reports/{report_id}/approve", headers=headers).status_code == 200
    again = client.post(f"/api/v1/party-reports/{report_id}/approve", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "PARTY_REPORT_DECIDED"


def test_reject_needs_a_reason_and_leaves_the_user_a_resident(client, report, make_staff, login_staff):
    report_id, tokens = report
    headers = bearer(login_staff(make_staff()))
    no_reason = client.post(
        f"/api/v1/party-reports/{report_id}/reject", json={"reason": "  "}, headers=headers
    )
    assert no_reason.status_code == 422
    missing = client.post(f"/api/v1/party-reports/{report_id}/reject", json={}, headers=headers)
    assert missing.status_code == 422
    rejected = client.post(
        f"/api/v1/party-reports/{report_id}/reject", json={"reason": "支部信息不符"}, headers=headers
    )
    assert rejected.status_code == 200
    assert rejected.get_json()["reason"] == "支部信息不符"
    assert client.get("/api/v1/me", headers=bearer(tokens)).get_json()["party_member"] is False


def test_staff_of_another_community_cannot_reject(client, report, make_staff, login_staff, db_session):
    report_id, _ = report
    before = _snapshot(db_session)
    response = client.post(
        f"/api/v1/party-reports/{report_id}/reject",
        json={"reason": "x"},
        headers=bearer(login_staff(make_staff(org="C2"))),
    )
    assert response.status_code == 403
    assert _snapshot(db_session) == before


def test_one_pending_report_at_a_time(client, report, org_tree):
    _, tokens = report
    again = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C2"].id, "branch": "x"},
        headers=bearer(tokens),
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "PARTY_REPORT_PENDING"


def test_a_member_cannot_report_twice_to_the_same_community(
    client, report, make_staff, login_staff, org_tree
):
    report_id, tokens = report
    client.post(f"/api/v1/party-reports/{report_id}/approve", headers=bearer(login_staff(make_staff())))
    again = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C1"].id, "branch": "x"},
        headers=bearer(tokens),
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "ALREADY_PARTY_MEMBER"


def test_reports_go_to_communities_only(client, login_user, org_tree):
    response = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["S1"].id, "branch": "x"},
        headers=bearer(login_user()),
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "NOT_A_COMMUNITY"


def test_staff_cannot_submit_a_report(client, make_staff, login_staff, org_tree):
    response = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C1"].id, "branch": "x"},
        headers=bearer(login_staff(make_staff())),
    )
    assert response.status_code == 403


def test_the_staff_list_is_scoped_to_their_subtree(client, login_user, make_staff, login_staff, org_tree):
    for name, community in [("a", "C1"), ("b", "C2"), ("c", "C3")]:
        client.post(
            "/api/v1/me/party-report",
            json={"community_id": org_tree[community].id, "branch": "支部"},
            headers=bearer(login_user(name)),
        )

    def listed(staff):
        body = client.get(
            "/api/v1/party-reports?status=pending", headers=bearer(login_staff(staff))
        ).get_json()
        return sorted(item["community_id"] for item in body["items"]), body["total"]

    assert listed(make_staff(org="C1")) == ([org_tree["C1"].id], 1)
    assert listed(make_staff(role="admin", org="S1")) == (sorted([org_tree["C1"].id, org_tree["C2"].id]), 2)
    assert listed(make_staff(role="admin", org="D1"))[1] == 3
    resident = client.get("/api/v1/party-reports", headers=bearer(login_user("d")))
    assert resident.status_code == 403


def test_the_staff_list_pages_and_filters(client, login_user, make_staff, login_staff, org_tree):
    for i in range(3):
        client.post(
            "/api/v1/me/party-report",
            json={"community_id": org_tree["C1"].id, "branch": f"支部{i}"},
            headers=bearer(login_user(f"p{i}")),
        )
    headers = bearer(login_staff(make_staff()))
    page = client.get("/api/v1/party-reports?page=2&page_size=2", headers=headers).get_json()
    assert (page["total"], page["page"], page["page_size"], len(page["items"])) == (3, 2, 2, 1)
    assert client.get("/api/v1/party-reports?status=approved", headers=headers).get_json()["total"] == 0
    assert client.get("/api/v1/party-reports?status=bogus", headers=headers).status_code == 422
    assert client.get("/api/v1/party-reports?page_size=500", headers=headers).status_code == 422


def test_an_unknown_report_is_404(client, make_staff, login_staff):
    response = client.post("/api/v1/party-reports/999999/approve", headers=bearer(login_staff(make_staff())))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "PARTY_REPORT_NOT_FOUND"


@pytest.mark.postgres
def test_racing_decisions_give_exactly_one_winner(app, report, make_staff, login_staff, db_session):
    report_id, _ = report
    headers = bearer(login_staff(make_staff()))
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def decide(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        if i % 2:
            response = client.post(f"/api/v1/party-reports/{report_id}/approve", headers=headers)
        else:
            response = client.post(
                f"/api/v1/party-reports/{report_id}/reject", json={"reason": "r"}, headers=headers
            )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    db_session.expire_all()
    decided = db_session.get(PartyReport, report_id)
    member = db_session.get(User, decided.user_id)
    assert (decided.status == "approved") == (member.party_community_id is not None)
