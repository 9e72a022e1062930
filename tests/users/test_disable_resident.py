"""Staff disable a resident (F16): with a reason, audited, their sessions ended; only staff of the resident's
community or party community, anyone else the 404 of an unknown id; enabling gives the account back."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from server.audit import services as audit
from server.auth.models import RefreshToken
from server.db import db
from server.users.models import User
from tests.conftest import bearer


def _user(app: Any, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def _entries(app: Any, user_id: int, action: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    with app.app_context():
        return [(e.actor_kind, e.actor_id, e.detail) for e in audit.entries_about("user", user_id, action)]


def _disable(
    client: Any, staff_tokens: dict[str, Any], user_id: int, reason: Any = "冒用他人身份刷积分"
) -> Any:
    body = {} if reason is None else {"reason": reason}
    return client.post(f"/api/v1/users/{user_id}/disable", json=body, headers=bearer(staff_tokens))


def test_staff_disable_a_resident_with_a_reason_answering_the_staff_view_and_audited(
    app, client, member, make_staff, login_staff
):
    resident = member(name="abuser", nickname="刷分者", phone="13824503164")
    staff = make_staff(org="C1")
    response = _disable(client, login_staff(staff), resident["user"]["id"], "  冒用他人身份刷积分 ")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == resident["user"]["id"]
    assert body["active"] is False
    assert body["disabled_reason"] == "冒用他人身份刷积分"
    assert body["disabled_at"] is not None
    assert body["disabled_by_id"] == staff.id
    assert body["phone_masked"] == "138****3164"
    assert "phone" not in body and "phone_hash" not in body
    user = _user(app, resident["user"]["id"])
    assert not user.active
    assert user.disabled_by_id == staff.id
    [(actor_kind, actor_id, detail)] = _entries(app, user.id, "user.disabled")
    assert (actor_kind, actor_id) == ("staff", staff.id)
    assert detail["reason"] == "冒用他人身份刷积分"


def test_disabling_bumps_the_token_version_and_revokes_every_refresh_family(
    app, client, member, make_staff, login_staff, login_user
):
    resident = member(name="abuser")
    login_user("abuser")  # a second phone: a second refresh family
    user_id = resident["user"]["id"]
    with app.app_context():
        families = set(
            db.session.scalars(
                select(RefreshToken.family_id).where(
                    RefreshToken.principal_kind == "user", RefreshToken.principal_id == user_id
                )
            )
        )
    assert len(families) == 2
    assert _user(app, user_id).token_version == 1
    other = member(name="neighbour")  # someone else's sessions stay

    assert _disable(client, login_staff(make_staff(org="C1")), user_id).status_code == 200

    assert _user(app, user_id).token_version == 2
    with app.app_context():
        tokens = db.session.scalars(select(RefreshToken).where(RefreshToken.principal_kind == "user")).all()
        mine = [t for t in tokens if t.principal_id == user_id]
        theirs = [t for t in tokens if t.principal_id == other["user"]["id"]]
        assert mine and all(t.revoked_at is not None for t in mine)
        assert theirs and all(t.revoked_at is None for t in theirs)
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": resident["refresh_token"]})
    assert refreshed.status_code == 401
    assert "access_token" not in (refreshed.get_json() or {})
    [(_kind, _actor, detail)] = _entries(app, user_id, "user.disabled")
    assert detail["refresh_tokens_revoked"] == 2


def test_a_disabled_resident_cannot_log_in_refresh_or_use_an_old_access_token(
    app, client, member, make_staff, login_staff
):
    """(Needs helper h1's ACCOUNT_DISABLED checks in login, refresh and the request's principal.)"""
    resident = member(name="abuser")
    assert _disable(client, login_staff(make_staff(org="C1")), resident["user"]["id"]).status_code == 200

    me = client.get("/api/v1/me", headers=bearer(resident))
    assert me.status_code == 401
    assert me.get_json()["error"]["code"] == "ACCOUNT_DISABLED"
    login = client.post("/api/v1/auth/wechat", json={"code": "abuser.999"})
    assert login.status_code == 401
    assert login.get_json()["error"]["code"] == "ACCOUNT_DISABLED"
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": resident["refresh_token"]})
    assert refreshed.status_code == 401


def test_a_disabled_resident_enabled_again_logs_in_afresh_and_both_acts_are_audited_once(
    app, client, member, make_staff, login_staff
):
    resident = member(name="abuser")
    user_id = resident["user"]["id"]
    staff_tokens = login_staff(make_staff(org="C1"))
    assert _disable(client, staff_tokens, user_id).status_code == 200

    enabled = client.post(f"/api/v1/users/{user_id}/enable", headers=bearer(staff_tokens))
    assert enabled.status_code == 200
    assert enabled.get_json()["active"] is True
    assert enabled.get_json()["disabled_reason"] is None
    again = client.post(f"/api/v1/users/{user_id}/enable", headers=bearer(staff_tokens))
    assert again.status_code == 200 and again.get_json()["active"] is True
    assert len(_entries(app, user_id, "user.enabled")) == 1
    [(_kind, _actor, detail)] = _entries(app, user_id, "user.enabled")
    assert detail["disabled_reason"] == "冒用他人身份刷积分"
    login = client.post("/api/v1/auth/wechat", json={"code": "abuser.1000"})
    assert login.status_code == 200
    assert login.get_json()["user"]["id"] == user_id
    assert client.get("/api/v1/me", headers=bearer(login.get_json())).status_code == 200


def test_disabling_again_answers_the_same_state_without_a_second_audit_row(
    app, client, member, make_staff, login_staff
):
    resident = member(name="abuser")
    user_id = resident["user"]["id"]
    staff_tokens = login_staff(make_staff(org="C1"))
    first = _disable(client, staff_tokens, user_id, "第一次")
    second = _disable(client, staff_tokens, user_id, "第二次")
    assert first.status_code == second.status_code == 200
    assert second.get_json() == first.get_json()
    assert second.get_json()["disabled_reason"] == "第一次"
    assert len(_entries(app, user_id, "user.disabled")) == 1
    assert _user(app, user_id).token_version == 2  # bumped once


def test_a_reason_is_required(app, client, member, make_staff, login_staff):
    resident = member(name="abuser")
    user_id = resident["user"]["id"]
    staff_tokens = login_staff(make_staff(org="C1"))
    for reason in (None, "", "   "):
        response = _disable(client, staff_tokens, user_id, reason)
        assert response.status_code == 422
        assert response.get_json()["error"]["code"] == "REASON_REQUIRED"
    user = _user(app, user_id)
    assert user.active and user.token_version == 1
    assert _entries(app, user_id, "user.disabled") == []


def test_only_staff_of_the_residents_community_or_party_community_may_disable(
    app, client, member, make_staff, login_staff, org_tree
):
    resident = member(name="abuser")  # lives in C1
    user_id = resident["user"]["id"]
    for outsider in (make_staff(org="C3"), make_staff(org="C2"), make_staff(org="S2")):
        tokens = login_staff(outsider)
        for path, body in (
            (f"/api/v1/users/{user_id}/disable", {"reason": "x"}),
            (f"/api/v1/users/{user_id}/enable", {}),
        ):
            response = client.post(path, json=body, headers=bearer(tokens))
            assert response.status_code == 404, (outsider.org_code, path)
            assert response.get_json()["error"]["code"] == "USER_NOT_FOUND"
    unknown = _disable(client, login_staff(make_staff(org="C3")), 999_999)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "USER_NOT_FOUND"
    assert _user(app, user_id).active
    assert _entries(app, user_id, "user.disabled") == []
    # the street above the community may; so may the party community's staff of someone living elsewhere
    assert _disable(client, login_staff(make_staff(org="S1")), user_id).status_code == 200
    reported = member(name="party", community="C3")
    with app.app_context():
        user = db.session.get(User, reported["user"]["id"])
        assert user is not None
        user.party_community_id = org_tree["C2"].id
        db.session.commit()
    assert _disable(client, login_staff(make_staff(org="C2")), reported["user"]["id"]).status_code == 200


def test_residents_cannot_disable_anyone(client, member):
    resident = member(name="abuser")
    other = member(name="neighbour")
    response = _disable(client, other, resident["user"]["id"])
    assert response.status_code == 403


def test_the_member_page_disables_with_a_reason_shows_who_and_why_and_enables_again(
    app, member, make_staff, console
):
    resident = member(name="abuser", nickname="刷分者")
    user_id = resident["user"]["id"]
    staff = make_staff(org="C1")
    page = console(staff)
    html = page.get(f"/console/members/{user_id}").get_data(as_text=True)
    assert "停用账号" in html and "已停用" not in html

    refused = page.post(f"/console/members/{user_id}/disable", {"reason": " "}, follow_redirects=True)
    assert "REASON_REQUIRED" in refused.get_data(as_text=True)
    assert _user(app, user_id).active

    done = page.post(
        f"/console/members/{user_id}/disable", {"reason": "冒用他人身份刷积分"}, follow_redirects=True
    )
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    shown = re.search(r'<p role="alert" id="account-disabled">(.*?)</p>', html, re.S)
    assert shown is not None
    assert "已停用" in shown[1] and "冒用他人身份刷积分" in shown[1] and staff.username in shown[1]
    assert "恢复账号" in html
    assert not _user(app, user_id).active
    listed = page.get("/console/members?q=刷分者").get_data(as_text=True)
    assert "已停用" in listed

    back = page.post(f"/console/members/{user_id}/enable", follow_redirects=True)
    html = back.get_data(as_text=True)
    assert "已恢复账号" in html and 'id="account-disabled"' not in html
    assert _user(app, user_id).active
    assert len(_entries(app, user_id, "user.disabled")) == len(_entries(app, user_id, "user.enabled")) == 1


def test_staff_of_another_community_cannot_disable_from_the_console(app, member, make_staff, console):
    resident = member(name="abuser")
    page = console(make_staff(org="C3"))
    refused = page.post(f"/console/members/{resident['user']['id']}/disable", {"reason": "x"})
    assert refused.status_code == 302  # back to the page, which tells them no such member
    with page.client.session_transaction() as session:
        assert any("USER_NOT_FOUND" in message for _, message in session["_flashes"])
    assert _user(app, resident["user"]["id"]).active
    assert _entries(app, resident["user"]["id"], "user.disabled") == []
