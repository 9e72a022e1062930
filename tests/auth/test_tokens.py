"""Access and refresh tokens: rotation, reuse detection, expiry and tampering."""

import base64
import hashlib
import json
import time
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from server.auth.models import RefreshToken
from tests.conftest import bearer


def _signing_key(app):
    return hashlib.sha256(b"linli-jwt:" + app.config["SECRET_KEY"].encode()).digest()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_refresh_rotates_the_pair(client, login_user):
    tokens = login_user("alice")
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    rotated = response.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["user"]["id"] == tokens["user"]["id"]
    assert client.get("/api/v1/me", headers=bearer(rotated)).status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 200


def test_a_reused_refresh_token_revokes_its_whole_family(app, client, login_user, db_session, monkeypatch):
    # A reuse after REFRESH_REUSE_GRACE_SECONDS (tests/auth/test_refresh_grace.py has the window itself).
    monkeypatch.setitem(app.config, "REFRESH_REUSE_GRACE_SECONDS", 0)
    tokens = login_user("alice")
    other_device = login_user("alice")  # another login of the same user: its own family
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).get_json()

    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "REFRESH_TOKEN_REUSED"

    # the thief's successor is dead too, and the revocation was committed despite the 401
    successor = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert successor.status_code == 401
    family = db_session.scalars(
        select(RefreshToken).where(RefreshToken.principal_id == tokens["user"]["id"])
    ).all()
    revoked = [t for t in family if t.revoked_at is not None]
    assert len(revoked) == 2
    # the other login is untouched
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": other_device["refresh_token"]}).status_code
        == 200
    )


def test_refresh_tokens_are_stored_hashed(login_user, db_session):
    tokens = login_user("alice")
    stored = db_session.scalars(select(RefreshToken.token_hash)).all()
    assert tokens["refresh_token"] not in stored
    assert hashlib.sha256(tokens["refresh_token"].encode()).hexdigest() in stored


def test_an_unknown_refresh_token_is_refused(client):
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "nonsense"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "REFRESH_TOKEN_INVALID"


def test_logout_revokes_the_refresh_token(client, login_user):
    tokens = login_user("alice")
    assert (
        client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    )
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "REFRESH_TOKEN_INVALID"


def test_an_expired_access_token_asks_to_log_in_again(app, client, login_user):
    user_id = login_user("alice")["user"]["id"]
    past = int(time.time()) - 10
    token = jwt.encode(
        {"sub": f"user:{user_id}", "typ": "access", "iat": past - 7200, "exp": past},
        _signing_key(app),
        algorithm="HS256",
    )
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_EXPIRED_LOGIN"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda t, key: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), id="tampered-signature"
        ),
        pytest.param(
            lambda t, key: _b64({"alg": "none", "typ": "JWT"}) + "." + t.split(".")[1] + ".", id="alg-none"
        ),
        pytest.param(
            lambda t, key: jwt.encode(
                jwt.decode(t, options={"verify_signature": False}), b"x" * 32, algorithm="HS256"
            ),
            id="wrong-key",
        ),
        pytest.param(
            lambda t, key: jwt.encode(
                {**jwt.decode(t, options={"verify_signature": False}), "typ": "refresh"},
                key,
                algorithm="HS256",
            ),
            id="wrong-type",
        ),
        pytest.param(
            lambda t, key: jwt.encode(
                {**jwt.decode(t, options={"verify_signature": False}), "sub": "user:999999"},
                key,
                algorithm="HS256",
            ),
            id="unknown-user",
        ),
        pytest.param(lambda t, key: "not-a-jwt", id="garbage"),
    ],
)
def test_forged_access_tokens_are_refused(app, client, login_user, forge):
    token = login_user("alice")["access_token"]
    forged = forge(token, _signing_key(app))
    response = client.get("/api/v1/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_INVALID_LOGIN"


def test_a_missing_or_malformed_authorization_header_is_401(client):
    assert client.get("/api/v1/me").get_json()["error"]["code"] == "UNAUTHORIZED"
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer "}).status_code == 401


def test_a_disabled_staff_account_loses_its_tokens(app, client, make_staff, login_staff, db_session):
    from server.users.models import StaffAccount

    staff = make_staff()
    tokens = login_staff(staff)
    account = db_session.get(StaffAccount, staff.id)
    account.active = False
    db_session.commit()
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
