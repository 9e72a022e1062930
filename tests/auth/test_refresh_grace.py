"""REFRESH_REUSE_GRACE_SECONDS: a refresh token sent again soon after it was spent (parallel refreshes of one
phone, a lost answer) gets the same successor pair; later, the reuse revokes the whole login as before."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.auth.models import RefreshToken
from server.db import db
from tests.conftest import bearer
from tests.races import posting, race


def _refresh(client, token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def _spend_earlier(app, raw, seconds):
    """As if ``raw`` had been spent ``seconds`` ago."""
    with app.app_context():
        digest = hashlib.sha256(raw.encode()).hexdigest()
        token = db.session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest)).one()
        assert token.used_at is not None
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id)
            .values(used_at=token.used_at - timedelta(seconds=seconds))
        )
        db.session.commit()


def _family(app, user_id):
    with app.app_context():
        return db.session.scalars(
            select(RefreshToken).where(
                RefreshToken.principal_id == user_id, RefreshToken.principal_kind == "user"
            )
        ).all()


def test_a_refresh_resent_within_the_grace_window_gets_the_same_pair(app, client, login_user):
    tokens = login_user("alice")
    first = _refresh(client, tokens["refresh_token"])
    again = _refresh(client, tokens["refresh_token"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["refresh_token"] == first.get_json()["refresh_token"]
    assert again.get_json()["access_token"] == first.get_json()["access_token"]
    assert 0 < again.get_json()["expires_in"] <= first.get_json()["expires_in"]
    family = _family(app, tokens["user"]["id"])
    assert len(family) == 2 and all(t.revoked_at is None for t in family)
    # Only the successor's hash is kept, never the token itself.
    successor = first.get_json()["refresh_token"]
    assert {t.token_hash for t in family} >= {hashlib.sha256(successor.encode()).hexdigest()}
    assert all(successor not in (t.token_hash, t.family_id) for t in family)
    # The pair works, and the chain goes on.
    assert client.get("/api/v1/me", headers=bearer(again.get_json())).status_code == 200
    assert _refresh(client, successor).status_code == 200


def test_a_reuse_after_the_grace_window_revokes_the_whole_login(app, client, login_user):
    tokens = login_user("alice")
    successor = _refresh(client, tokens["refresh_token"]).get_json()["refresh_token"]
    _spend_earlier(app, tokens["refresh_token"], int(app.config["REFRESH_REUSE_GRACE_SECONDS"]) + 1)
    late = _refresh(client, tokens["refresh_token"])
    assert (late.status_code, late.get_json()["error"]["code"]) == (401, "REFRESH_TOKEN_REUSED")
    assert all(t.revoked_at is not None for t in _family(app, tokens["user"]["id"]))
    dead = _refresh(client, successor)
    assert (dead.status_code, dead.get_json()["error"]["code"]) == (401, "REFRESH_TOKEN_INVALID")


def test_the_grace_window_is_a_setting(app, client, login_user, monkeypatch):
    monkeypatch.setitem(app.config, "REFRESH_REUSE_GRACE_SECONDS", 0)
    tokens = login_user("alice")
    assert _refresh(client, tokens["refresh_token"]).status_code == 200
    again = _refresh(client, tokens["refresh_token"])
    assert (again.status_code, again.get_json()["error"]["code"]) == (401, "REFRESH_TOKEN_REUSED")


def test_a_resend_after_logout_is_refused_within_the_window_too(app, client, login_user):
    tokens = login_user("alice")
    successor = _refresh(client, tokens["refresh_token"]).get_json()["refresh_token"]
    assert client.post("/api/v1/auth/logout", json={"refresh_token": successor}).status_code in (200, 204)
    again = _refresh(client, tokens["refresh_token"])
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "REFRESH_TOKEN_REUSED"


@pytest.mark.postgres
def test_four_parallel_refreshes_of_one_phone_never_log_it_out(app, client, login_user):
    tokens = login_user("alice")
    answers = race([posting(app, "/api/v1/auth/refresh", {}, {"refresh_token": tokens["refresh_token"]})] * 4)
    assert [status for status, _body in answers] == [200] * 4, answers
    assert len({(body["access_token"], body["refresh_token"]) for _status, body in answers}) == 1
    pair = answers[0][1]
    assert client.get("/api/v1/me", headers=bearer(pair)).status_code == 200
    assert all(t.revoked_at is None for t in _family(app, tokens["user"]["id"]))
    assert _refresh(client, pair["refresh_token"]).status_code == 200
