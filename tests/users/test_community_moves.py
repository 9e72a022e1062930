"""Community moves (F3): a resident's community is set once, then changes only when staff of the community
they move into approve. Over HTTP; the races need PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import db
from server.notifications.models import OutboxMessage
from server.users.models import CommunityMove, User
from tests.conftest import bearer
from tests.races import posting, race

MOVES = "/api/v1/me/community-moves"


@pytest.fixture
def resident(member):
    """``resident("name", community="C1")``: a resident living there (no points); returns the tokens."""

    def make(name: str = "mover", community: str = "C1") -> dict[str, Any]:
        tokens: dict[str, Any] = member(points=0, name=name, community=community)
        return tokens

    return make


@pytest.fixture
def staff_of(make_staff, login_staff):
    """``staff_of("C2", role="staff")``: the headers of a fresh staff account of that org unit."""

    def make(org: str, role: str = "staff") -> dict[str, str]:
        return bearer(login_staff(make_staff(role=role, org=org)))

    return make


def _apply(client, tokens, community_id: int, reason: str = "搬到新小区住了") -> Any:
    return client.post(MOVES, json={"community_id": community_id, "reason": reason}, headers=bearer(tokens))


def _community_of(client, tokens) -> int | None:
    community_id: int | None = client.get("/api/v1/me", headers=bearer(tokens)).get_json()["community_id"]
    return community_id


def _code(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def _state(app) -> tuple[list[tuple[Any, ...]], list[tuple[int, int | None]], int]:
    """Every move, every user's community and the outbox size: what a refusal must leave as it was.

    (In an app context of its own: the ``app`` fixture's would be shared by the requests, and with
    it ``g`` and the caller it remembers.)"""
    with app.app_context():
        moves = [
            (m.id, m.user_id, m.status, m.to_community_id, m.decided_by_id, m.decision_reason)
            for m in db.session.scalars(select(CommunityMove).order_by(CommunityMove.id))
        ]
        users = [(u.id, u.community_id) for u in db.session.scalars(select(User).order_by(User.id))]
        outbox = int(db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
    return moves, users, outbox


def _events(app, user_id: int) -> list[str]:
    """The community-move notifications written for the user, in order."""
    with app.app_context():
        return list(
            db.session.scalars(
                select(OutboxMessage.event)
                .where(OutboxMessage.user_id == user_id, OutboxMessage.event.startswith("community_move."))
                .order_by(OutboxMessage.id)
            )
        )


# --- F3: the self-declared community -----------------------------------------------------------------


def test_a_resident_of_c1_cannot_declare_themself_into_c2_and_shop_in_its_supermarket(
    client, member, item, org_tree
):
    # F3's attack: PATCH /me to C2, then redeem in C2's supermarket with points earned in C1.
    rice_in_c2 = item(community="C2")
    tokens = member(points=30, name="hopper", community="C1")
    hop = client.patch("/api/v1/me", json={"community_id": org_tree["C2"].id}, headers=bearer(tokens))
    assert _code(hop) == (409, "COMMUNITY_MOVE_REQUIRED")
    assert "社区迁移" in hop.get_json()["error"]["message"]
    assert _community_of(client, tokens) == org_tree["C1"].id
    redeem = client.post("/api/v1/redemptions", json={"item_id": rice_in_c2}, headers=bearer(tokens))
    assert _code(redeem) == (403, "NOT_YOUR_COMMUNITY")


def test_a_pending_move_does_not_open_the_new_communitys_supermarket(client, member, item, org_tree):
    rice_in_c2 = item(community="C2")
    tokens = member(points=30, name="hopper", community="C1")
    assert _apply(client, tokens, org_tree["C2"].id).status_code == 201
    redeem = client.post("/api/v1/redemptions", json={"item_id": rice_in_c2}, headers=bearer(tokens))
    assert _code(redeem) == (403, "NOT_YOUR_COMMUNITY")
    assert _community_of(client, tokens) == org_tree["C1"].id


# --- applying ------------------------------------------------------------------------------------------


def test_applying_opens_a_pending_move_and_the_old_community_stays(client, resident, org_tree):
    tokens = resident()
    response = _apply(client, tokens, org_tree["C2"].id)
    assert response.status_code == 201, response.get_json()
    move = response.get_json()
    assert move["status"] == "pending"
    assert (move["from_community_id"], move["to_community_id"]) == (org_tree["C1"].id, org_tree["C2"].id)
    assert (move["from_community"], move["to_community"]) == ("一社区", "二社区")
    assert move["reason"] == "搬到新小区住了"
    assert move["decided_at"] is None and move["decision_reason"] is None
    assert _community_of(client, tokens) == org_tree["C1"].id


def test_applying_again_to_the_same_community_answers_the_same_move(app, client, resident, org_tree):
    tokens = resident()
    first = _apply(client, tokens, org_tree["C2"].id)
    again = _apply(client, tokens, org_tree["C2"].id, reason="再发一次")
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert len(_state(app)[0]) == 1


def test_applying_to_another_community_withdraws_the_pending_move(client, resident, org_tree):
    tokens = resident()
    first = _apply(client, tokens, org_tree["C2"].id).get_json()
    second = _apply(client, tokens, org_tree["C3"].id)
    assert second.status_code == 201
    assert second.get_json()["id"] != first["id"]
    history = client.get(MOVES, headers=bearer(tokens)).get_json()
    assert history["total"] == 2
    assert [(m["id"], m["status"], m["to_community_id"]) for m in history["items"]] == [
        (second.get_json()["id"], "pending", org_tree["C3"].id),
        (first["id"], "cancelled", org_tree["C2"].id),
    ]


def test_a_move_to_where_one_lives_is_refused(app, client, resident, org_tree):
    tokens = resident()
    before = _state(app)
    assert _code(_apply(client, tokens, org_tree["C1"].id)) == (409, "ALREADY_IN_COMMUNITY")
    assert _state(app) == before


def test_a_move_goes_to_a_community_that_exists(app, client, resident, org_tree):
    tokens = resident()
    before = _state(app)
    assert _code(_apply(client, tokens, 999_999)) == (404, "ORG_NOT_FOUND")
    assert _code(_apply(client, tokens, org_tree["S1"].id)) == (422, "NOT_A_COMMUNITY")
    assert _code(_apply(client, tokens, org_tree["C1-G1"].id)) == (422, "NOT_A_COMMUNITY")
    assert _state(app) == before


def test_a_move_needs_a_reason(app, client, resident, org_tree):
    tokens = resident()
    before = _state(app)
    assert _apply(client, tokens, org_tree["C2"].id, reason="   ").status_code == 422
    missing = client.post(MOVES, json={"community_id": org_tree["C2"].id}, headers=bearer(tokens))
    assert missing.status_code == 422
    assert _state(app) == before


def test_a_resident_without_a_community_chooses_it_in_the_profile_not_by_a_move(
    client, login_user, org_tree, app
):
    tokens = login_user("newcomer")
    assert _code(_apply(client, tokens, org_tree["C2"].id)) == (409, "COMMUNITY_NOT_SET")
    assert _state(app)[0] == []


def test_staff_do_not_apply_and_residents_see_only_their_own_moves(client, resident, staff_of, org_tree):
    body = {"community_id": org_tree["C2"].id, "reason": "x"}
    assert client.post(MOVES, json=body, headers=staff_of("C2")).status_code == 403
    mine, theirs = resident("a"), resident("b")
    _apply(client, mine, org_tree["C2"].id)
    assert client.get(MOVES, headers=bearer(theirs)).get_json()["total"] == 0
    assert client.get(MOVES, headers=bearer(mine)).get_json()["total"] == 1
    assert client.get(MOVES, headers=staff_of("C2")).status_code == 403


# --- deciding ------------------------------------------------------------------------------------------


@pytest.fixture
def move(client, resident, org_tree):
    """A pending move of a C1 resident to C2; returns (move id, the resident's tokens)."""
    tokens = resident()
    response = _apply(client, tokens, org_tree["C2"].id)
    assert response.status_code == 201
    return response.get_json()["id"], tokens


# who → expected status of POST /community-moves/{id}/approve on a move from C1 into C2 (under S1 under D1)
APPROVE_MATRIX = [
    ("anonymous", 401),
    ("the resident", 403),
    ("staff of C1", 404),  # the community the resident leaves: it does not decide
    ("admin of S2", 404),
    ("staff of C3", 404),
    ("staff of C2", 200),
    ("admin of S1", 200),
    ("admin of D1", 200),
]


@pytest.mark.parametrize(("who", "expected"), APPROVE_MATRIX)
def test_who_may_approve(client, move, who, expected, staff_of, app, org_tree):
    move_id, tokens = move
    if who == "anonymous":
        headers = {}
    elif who == "the resident":
        headers = bearer(tokens)
    else:
        role, _, org = who.split()
        headers = staff_of(org, role)
    before = _state(app)
    response = client.post(f"/api/v1/community-moves/{move_id}/approve", headers=headers)
    assert response.status_code == expected, response.get_json()
    if expected == 200:
        assert response.get_json()["status"] == "approved"
        assert _community_of(client, tokens) == org_tree["C2"].id
    else:
        if expected == 404:
            assert response.get_json()["error"]["code"] == "COMMUNITY_MOVE_NOT_FOUND"
        assert _state(app) == before  # a refusal changes nothing
        assert _community_of(client, tokens) == org_tree["C1"].id


def test_staff_of_the_old_community_cannot_reject_either(client, move, staff_of, app):
    move_id, _ = move
    before = _state(app)
    response = client.post(
        f"/api/v1/community-moves/{move_id}/reject", json={"reason": "不让走"}, headers=staff_of("C1")
    )
    assert _code(response) == (404, "COMMUNITY_MOVE_NOT_FOUND")
    assert _state(app) == before


def test_approval_moves_the_resident_notifies_them_and_a_second_approval_is_the_same_answer(
    client, move, staff_of, org_tree, app
):
    move_id, tokens = move
    headers = staff_of("C2")
    approved = client.post(f"/api/v1/community-moves/{move_id}/approve", headers=headers)
    assert approved.status_code == 200
    body = approved.get_json()
    assert body["status"] == "approved" and body["decided_at"] is not None
    me = client.get("/api/v1/me", headers=bearer(tokens)).get_json()
    assert me["community_id"] == org_tree["C2"].id
    assert _events(app, tokens["user"]["id"]) == ["community_move.approved"]

    again = client.post(f"/api/v1/community-moves/{move_id}/approve", headers=staff_of("C2"))
    assert (again.status_code, again.get_json()) == (200, body)
    assert _events(app, tokens["user"]["id"]) == ["community_move.approved"]  # not told twice
    reject = client.post(f"/api/v1/community-moves/{move_id}/reject", json={"reason": "x"}, headers=headers)
    assert _code(reject) == (409, "COMMUNITY_MOVE_DECIDED")
    assert _community_of(client, tokens) == org_tree["C2"].id


def test_after_a_move_the_profile_keeps_the_new_community_and_moving_back_is_another_move(
    client, move, staff_of, org_tree
):
    move_id, tokens = move
    client.post(f"/api/v1/community-moves/{move_id}/approve", headers=staff_of("C2"))
    same = client.patch("/api/v1/me", json={"community_id": org_tree["C2"].id}, headers=bearer(tokens))
    assert same.status_code == 200
    back = client.patch("/api/v1/me", json={"community_id": org_tree["C1"].id}, headers=bearer(tokens))
    assert _code(back) == (409, "COMMUNITY_MOVE_REQUIRED")
    home = _apply(client, tokens, org_tree["C1"].id).get_json()
    assert (home["from_community_id"], home["to_community_id"]) == (org_tree["C2"].id, org_tree["C1"].id)
    assert (
        client.post(f"/api/v1/community-moves/{home['id']}/approve", headers=staff_of("C2")).status_code
        == 404
    )
    assert (
        client.post(f"/api/v1/community-moves/{home['id']}/approve", headers=staff_of("C1")).status_code
        == 200
    )
    assert _community_of(client, tokens) == org_tree["C1"].id


def test_rejection_keeps_the_old_community_and_tells_the_resident_why(app, client, move, staff_of, org_tree):
    move_id, tokens = move
    headers = staff_of("C2")
    for body in ({"reason": "  "}, {}):
        assert (
            client.post(f"/api/v1/community-moves/{move_id}/reject", json=body, headers=headers).status_code
            == 422
        )
    rejected = client.post(
        f"/api/v1/community-moves/{move_id}/reject", json={"reason": "地址不在本社区"}, headers=headers
    )
    assert rejected.status_code == 200
    assert (rejected.get_json()["status"], rejected.get_json()["decision_reason"]) == (
        "rejected",
        "地址不在本社区",
    )
    assert _community_of(client, tokens) == org_tree["C1"].id
    assert _events(app, tokens["user"]["id"]) == ["community_move.rejected"]

    again = client.post(
        f"/api/v1/community-moves/{move_id}/reject", json={"reason": "再点一次"}, headers=headers
    )
    assert (again.status_code, again.get_json()) == (200, rejected.get_json())
    approve = client.post(f"/api/v1/community-moves/{move_id}/approve", headers=headers)
    assert _code(approve) == (409, "COMMUNITY_MOVE_DECIDED")
    assert _community_of(client, tokens) == org_tree["C1"].id
    # A rejected move leaves the resident free to apply again.
    assert _apply(client, tokens, org_tree["C2"].id).get_json()["status"] == "pending"


def test_a_withdrawn_move_cannot_be_approved(client, move, staff_of, org_tree):
    move_id, tokens = move
    _apply(client, tokens, org_tree["C3"].id)  # changed their mind: the move to C2 is withdrawn
    approve = client.post(f"/api/v1/community-moves/{move_id}/approve", headers=staff_of("C2"))
    assert _code(approve) == (409, "COMMUNITY_MOVE_DECIDED")
    assert approve.get_json()["error"]["details"]["status"] == "cancelled"
    assert _community_of(client, tokens) == org_tree["C1"].id


def test_an_unknown_move_is_404(client, staff_of):
    response = client.post("/api/v1/community-moves/999999/approve", headers=staff_of("C2"))
    assert _code(response) == (404, "COMMUNITY_MOVE_NOT_FOUND")


def test_the_staff_list_holds_moves_into_the_callers_subtree(client, resident, staff_of, org_tree):
    for name, target in [("a", "C2"), ("b", "C2"), ("c", "C3")]:
        _apply(client, resident(name), org_tree[target].id)

    def listed(headers, query="?status=pending"):
        body = client.get(f"/api/v1/community-moves{query}", headers=headers).get_json()
        return sorted(m["to_community_id"] for m in body["items"]), body["total"]

    c2 = org_tree["C2"].id
    assert listed(staff_of("C2")) == ([c2, c2], 2)
    assert listed(staff_of("C1")) == ([], 0)  # the residents' old community: moves out are not its queue
    assert listed(staff_of("S1", "admin")) == ([c2, c2], 2)
    assert listed(staff_of("D1", "admin"))[1] == 3
    assert listed(staff_of("D1", "admin"), f"?community_id={org_tree['C3'].id}")[1] == 1
    assert listed(staff_of("C2"), "?status=approved") == ([], 0)
    assert client.get("/api/v1/community-moves?status=bogus", headers=staff_of("C2")).status_code == 422
    assert client.get("/api/v1/community-moves", headers=bearer(resident("d"))).status_code == 403


# --- races (PostgreSQL) --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_staff_approving_at_once_give_one_decision(app, client, move, staff_of, org_tree):
    move_id, tokens = move
    deciders = [staff_of("C2"), staff_of("C2"), staff_of("S1", "admin"), staff_of("D1", "admin")] * 2
    results = race([posting(app, f"/api/v1/community-moves/{move_id}/approve", h) for h in deciders])
    assert [status for status, _ in results] == [200] * len(deciders)
    assert len({(body["status"], body["decided_at"]) for _, body in results}) == 1  # one decision, told alike
    assert _events(app, tokens["user"]["id"]) == ["community_move.approved"]
    assert _community_of(client, tokens) == org_tree["C2"].id


@pytest.mark.postgres
def test_approvals_racing_rejections_leave_one_decision(app, client, resident, staff_of, org_tree):
    for round_ in range(3):
        tokens = resident(f"racer{round_}")
        move_id = _apply(client, tokens, org_tree["C2"].id).get_json()["id"]
        headers = staff_of("C2")
        calls = [
            posting(app, f"/api/v1/community-moves/{move_id}/approve", headers)
            if i % 2
            else posting(app, f"/api/v1/community-moves/{move_id}/reject", headers, {"reason": "不符"})
            for i in range(8)
        ]
        results = race(calls)
        winners = {body["status"] for status, body in results if status == 200}
        assert len(winners) == 1, results
        (decision,) = winners
        losers = [(status, body["error"]["code"]) for status, body in results if status != 200]
        assert losers == [(409, "COMMUNITY_MOVE_DECIDED")] * 4  # the other kind, each refused
        assert _events(app, tokens["user"]["id"]) == [f"community_move.{decision}"]
        lives = org_tree["C2"].id if decision == "approved" else org_tree["C1"].id
        assert _community_of(client, tokens) == lives


@pytest.mark.postgres
def test_a_resident_sending_the_application_twice_at_once_gets_one_move(app, resident, org_tree):
    tokens = resident()
    body = {"community_id": org_tree["C2"].id, "reason": "搬家"}
    results = race([posting(app, MOVES, bearer(tokens), body) for _ in range(6)])
    assert {status for status, _ in results} == {201}
    assert len({answer["id"] for _, answer in results}) == 1
    assert len(_state(app)[0]) == 1


@pytest.mark.postgres
def test_an_approval_racing_the_residents_new_application_stays_consistent(
    app, client, resident, staff_of, org_tree
):
    for round_ in range(4):
        tokens = resident(f"mover{round_}")
        move_id = _apply(client, tokens, org_tree["C2"].id).get_json()["id"]
        (approve_status, _), (apply_status, applied) = race(
            [
                posting(app, f"/api/v1/community-moves/{move_id}/approve", staff_of("C2")),
                posting(
                    app, MOVES, bearer(tokens), {"community_id": org_tree["C3"].id, "reason": "改去三社区"}
                ),
            ]
        )
        assert apply_status == 201, applied
        assert applied["status"] == "pending" and applied["to_community_id"] == org_tree["C3"].id
        if approve_status == 200:  # approved first: the new application leaves C2
            assert _community_of(client, tokens) == org_tree["C2"].id
            assert applied["from_community_id"] == org_tree["C2"].id
        else:  # withdrawn first: the approval is refused and the resident still lives in C1
            assert approve_status == 409
            assert _community_of(client, tokens) == org_tree["C1"].id
            assert applied["from_community_id"] == org_tree["C1"].id
        pending = [m[0] for m in _state(app)[0] if m[1] == tokens["user"]["id"] and m[2] == "pending"]
        assert pending == [applied["id"]]
