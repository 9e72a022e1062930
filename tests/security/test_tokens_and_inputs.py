"""Security checks: forged and replayed tokens, injection strings in every text field, oversized
bodies, upload type confusion, and rate limits answered with 429.

tests/auth/test_tokens.py already covers a tampered signature, ``alg: none`` (lower case, signature
dropped), a wrong key, a wrong ``typ``, an unknown user, an expired token and a reused refresh token of a
user; this file adds what an attacker would try next.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from PIL import Image
from sqlalchemy import inspect, select

from server.auth.models import RefreshToken
from server.db import db
from server.users.models import User
from tests.conftest import Staff, bearer
from tests.security.conftest import changed_tables, iso, jpeg_bytes, snapshot, unique

# --- forged access tokens ----------------------------------------------------------------------------------


def _key(app: Flask) -> bytes:
    return hashlib.sha256(b"linli-jwt:" + app.config["SECRET_KEY"].encode()).digest()


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{_b64(header)}.{_b64(claims)}.{signature}"


@pytest.fixture
def admin_tokens(
    make_staff: Callable[..., Staff], login_staff: Callable[[Staff], dict[str, Any]]
) -> dict[str, Any]:
    """An admin of the district root (may create points rules)."""
    return login_staff(make_staff(role="admin", org="D1"))


@pytest.fixture
def resident_tokens(login_user: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A resident's login."""
    return login_user("mallory")


def _sign(claims: dict[str, Any], key: bytes, alg: str = "HS256", digest: str = "sha256") -> str:
    """A JWT signed by hand (PyJWT would warn about the short keys an attacker tries)."""
    signing_input = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), digest).digest())}"


def _resign(token: str, key: bytes, **changes: Any) -> str:
    claims = {k: v for k, v in {**_claims(token), **changes}.items() if v is not None}
    return _sign(claims, key)


Forge = Callable[[Flask, str, str], str]


def _unsigned_as(alg: str) -> Forge:
    def forge(app: Flask, mine: str, admin: str) -> str:
        return _unsigned({"alg": alg, "typ": "JWT"}, _claims(admin))

    return forge  # (app, the resident's token, the admin's token) -> a forgery


FORGERIES: dict[str, Forge] = {
    # The admin's header and signature kept, the payload edited (a longer life).
    "tampered-payload-kept-signature": lambda app, mine, admin: ".".join(
        [
            admin.split(".")[0],
            _b64({**_claims(admin), "exp": _claims(admin)["exp"] + 3600}),
            admin.split(".")[2],
        ]
    ),
    # The resident's own signed token, its payload edited to name the admin.
    "resident-token-payload-edited": lambda app, mine, admin: ".".join(
        [mine.split(".")[0], _b64({**_claims(mine), "sub": _claims(admin)["sub"]}), mine.split(".")[2]]
    ),
    **{f"alg-{alg}": _unsigned_as(alg) for alg in ("none", "None", "NONE", "nOnE")},
    "alg-none-with-the-original-signature": lambda app, mine, admin: _unsigned(
        {"alg": "none", "typ": "JWT"}, _claims(admin), admin.split(".")[2]
    ),
    "no-alg-header": lambda app, mine, admin: _unsigned({"typ": "JWT"}, _claims(admin)),
    "hs512-with-the-right-key": lambda app, mine, admin: _sign(_claims(admin), _key(app), "HS512", "sha512"),
    "hs256-with-the-raw-secret-key": lambda app, mine, admin: _sign(
        _claims(admin), app.config["SECRET_KEY"].encode()
    ),
    "hs256-with-an-empty-key": lambda app, mine, admin: _sign(_claims(admin), b""),
    "right-key-but-no-exp": lambda app, mine, admin: _resign(admin, _key(app), exp=None),
    "right-key-but-sub-not-a-principal": lambda app, mine, admin: _resign(admin, _key(app), sub="admin:1"),
    "right-key-but-sub-with-sql": lambda app, mine, admin: _resign(admin, _key(app), sub="staff:1 OR 1=1"),
    # An expired token whose signature is forged too: invalid, not merely expired (no refresh offered).
    "expired-and-wrong-key": lambda app, mine, admin: _resign(
        admin, b"k" * 32, iat=int(time.time()) - 9000, exp=int(time.time()) - 60
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_token_naming_the_admin_is_401_invalid_and_writes_nothing(
    app, client, admin_tokens, resident_tokens, name
):
    forged = FORGERIES[name](app, resident_tokens["access_token"], admin_tokens["access_token"])
    rule = {"code": "FORGED_RULE", "name": "伪造", "category": "其他", "points": 100, "unit": "event"}
    before = snapshot(app)

    response = client.post("/api/v1/points/rules", json=rule, headers=bearer(forged))

    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "TOKEN_INVALID_LOGIN"
    assert changed_tables(before, snapshot(app)) == {}
    # the real admin token still works: the refusal was about the forgery
    assert client.get("/api/v1/me", headers=bearer(admin_tokens)).status_code == 200


def test_an_expired_staff_token_asks_to_log_in_again_and_writes_nothing(app, client, admin_tokens):
    past = int(time.time()) - 60
    expired = jwt.encode(
        {**_claims(admin_tokens["access_token"]), "iat": past - 7200, "exp": past},
        _key(app),
        algorithm="HS256",
    )
    before = snapshot(app)
    rule = {"code": "LATE_RULE", "name": "过期", "category": "其他", "points": 1, "unit": "event"}
    response = client.post("/api/v1/points/rules", json=rule, headers=bearer(expired))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_EXPIRED_LOGIN"
    assert changed_tables(before, snapshot(app)) == {}


def test_a_token_is_read_only_from_the_authorization_header(client, resident_tokens):
    token = resident_tokens["access_token"]
    for response in (
        client.get(f"/api/v1/me?access_token={token}"),
        client.get("/api/v1/me", headers={"Cookie": f"access_token={token}"}),
        client.get("/api/v1/me", headers={"Authorization": token}),  # no scheme
        client.get("/api/v1/me", headers={"Authorization": f"Token {token}"}),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_refresh_and_access_tokens_cannot_stand_in_for_each_other(client, resident_tokens):
    as_access = client.get("/api/v1/me", headers=bearer(resident_tokens["refresh_token"]))
    assert as_access.status_code == 401
    assert as_access.get_json()["error"]["code"] == "TOKEN_INVALID_LOGIN"
    as_refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": resident_tokens["access_token"]})
    assert as_refresh.status_code == 401
    assert as_refresh.get_json()["error"]["code"] == "REFRESH_TOKEN_INVALID"


# --- refresh tokens ---------------------------------------------------------------------------------------


def test_a_reused_staff_refresh_token_revokes_the_whole_family(
    app, client, make_staff, login_staff, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "REFRESH_REUSE_GRACE_SECONDS", 0)  # a reuse after the grace window
    staff = make_staff(org="C1")
    first = login_staff(staff)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).get_json()

    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    family = db_session.scalars(select(RefreshToken).where(RefreshToken.principal_kind == "staff")).all()
    assert len(family) == 3 and all(token.revoked_at is not None for token in family)
    # the newest token of the family, held by whoever stole or kept the chain, is dead too
    newest = client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert newest.status_code == 401
    assert newest.get_json()["error"]["code"] == "REFRESH_TOKEN_INVALID"


def test_a_refresh_token_replayed_again_after_the_revocation_stays_refused(
    app, client, login_user, monkeypatch
):
    monkeypatch.setitem(app.config, "REFRESH_REUSE_GRACE_SECONDS", 0)  # a reuse after the grace window
    tokens = login_user("eve")
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    codes = [
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).get_json()[
            "error"
        ]["code"]
        for _ in range(3)
    ]
    assert codes == ["REFRESH_TOKEN_REUSED"] * 3


def test_an_expired_refresh_token_is_refused(client, login_user, db_session):
    tokens = login_user("eve")
    stored = db_session.scalars(select(RefreshToken)).one()
    stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db_session.commit()
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "REFRESH_TOKEN_INVALID"


# --- injection strings in every text field ------------------------------------------------------------------

PAYLOADS = ["'; DROP TABLE users; --", "<script>alert(1)</script>", '" onmouseover="x', "{{7*7}}"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _console_client(app: Flask, username: str, password: str) -> FlaskClient:
    console = app.test_client()
    page = console.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    response = console.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": csrf[1]}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return console


@pytest.fixture
def written(
    app, client, org_tree, make_staff, login_staff, login_user, request, monkeypatch
) -> dict[str, Any]:
    """Every text field a resident, a party member or staff can write, set to the payload; returns ids."""
    p: str = request.param
    c1 = org_tree["C1"].id
    staff_account = make_staff(org="C1")
    staff = bearer(login_staff(staff_account))
    admin = bearer(login_staff(make_staff(role="admin", org="D1")))

    def user(name: str, party: bool = False) -> tuple[int, dict[str, str]]:
        tokens = login_user(name)
        headers = bearer(tokens)
        _ok(client.patch("/api/v1/me", json={"nickname": p, "community_id": c1}, headers=headers))
        if party:
            with app.app_context():
                found = db.session.get(User, tokens["user"]["id"])
                assert found is not None
                found.party_community_id = c1
                db.session.commit()
        return tokens["user"]["id"], headers

    resident_id, resident = user("resident")
    member_id, member = user("member", party=True)
    _, reporter = user("reporter")
    ids: dict[str, Any] = {"payload": p, "resident": resident_id, "member": member_id, "staff": staff_account}

    # Party reports: one waits in the queue, one is rejected with a reason.
    ids["report"] = _ok(
        client.post(
            "/api/v1/me/party-report", json={"community_id": c1, "branch": p, "employer": p}, headers=resident
        ),
        201,
    )["id"]
    rejected = _ok(
        client.post("/api/v1/me/party-report", json={"community_id": c1, "branch": p}, headers=reporter), 201
    )
    ids["report_reason"] = _ok(
        client.post(f"/api/v1/party-reports/{rejected['id']}/reject", json={"reason": p}, headers=staff)
    )["reason"]

    # Wishes: text, contact, address; a fulfil note and a comment; reasons of reject, release, cancel.
    def wish() -> int:
        body = {"title": p, "content": p, "category": "其他", "contact_name": p, "address": p}
        wish_id: int = _ok(client.post("/api/v1/wishes", json=body, headers=resident), 201)["id"]
        return wish_id

    ids["wish_pending"] = wish()
    ids["wish_done"] = wish()
    _ok(client.post(f"/api/v1/wishes/{ids['wish_done']}/approve", headers=staff))
    _ok(client.post(f"/api/v1/wishes/{ids['wish_done']}/claim", headers=member))
    # A photo, so the note may be as short as a payload; fulfilled at once (the wait has its own tests).
    monkeypatch.setitem(app.config, "WISH_MIN_FULFIL_MINUTES", 0)
    upload = {"file": (io.BytesIO(jpeg_bytes()), "done.jpg", "image/jpeg")}
    photo = _ok(
        client.post("/api/v1/files", data=upload, headers=member, content_type="multipart/form-data"), 201
    )
    done = {"note": p, "photos": [photo["id"]]}
    _ok(client.post(f"/api/v1/wishes/{ids['wish_done']}/fulfil", json=done, headers=member))
    _ok(
        client.post(
            f"/api/v1/wishes/{ids['wish_done']}/confirm", json={"rating": 5, "comment": p}, headers=resident
        )
    )
    ids["wish_rejected"] = wish()
    _ok(client.post(f"/api/v1/wishes/{ids['wish_rejected']}/reject", json={"reason": p}, headers=staff))
    ids["wish_released"] = wish()
    _ok(client.post(f"/api/v1/wishes/{ids['wish_released']}/approve", headers=staff))
    _ok(client.post(f"/api/v1/wishes/{ids['wish_released']}/claim", headers=member))
    _ok(client.post(f"/api/v1/wishes/{ids['wish_released']}/release", json={"reason": p}, headers=staff))
    ids["wish_cancelled"] = wish()
    _ok(client.post(f"/api/v1/wishes/{ids['wish_cancelled']}/cancel", json={"reason": p}, headers=resident))

    # Points: an adjustment and its reversal, a rule named by the payload.
    adjustment = _ok(
        client.post(
            "/api/v1/points/adjustments",
            json={"user_id": resident_id, "amount": 100, "reason": p},
            headers=staff,
        ),
        201,
    )
    extra = _ok(
        client.post(
            "/api/v1/points/adjustments",
            json={"user_id": resident_id, "amount": 1, "reason": p},
            headers=staff,
        ),
        201,
    )
    ids["reversal_reason"] = _ok(
        client.post(
            f"/api/v1/points/transactions/{extra['transaction_id']}/reverse",
            json={"reason": p},
            headers=staff,
        ),
        201,
    )["reason"]
    ids["adjustment_reason"] = adjustment["reason"]
    rule = {"code": "INJECTED", "name": p, "category": p, "points": 1, "unit": "event"}
    _ok(client.post("/api/v1/points/rules", json=rule, headers=admin), 201)

    # The store: an item's texts, a stock change's reason, a redemption rejected with a reason.
    item = {"community_id": c1, "name": p, "description": p, "sponsor": p, "points_price": 10, "stock": 5}
    ids["item"] = _ok(client.post("/api/v1/store/items", json=item, headers=staff), 201)["id"]
    _ok(
        client.patch(
            f"/api/v1/store/items/{ids['item']}", json={"stock": 9, "stock_reason": p}, headers=staff
        )
    )
    ids["redemption"] = _ok(
        client.post("/api/v1/redemptions", json={"item_id": ids["item"]}, headers=resident), 201
    )["id"]
    ids["redemption_reason"] = _ok(
        client.post(f"/api/v1/redemptions/{ids['redemption']}/reject", json={"reason": p}, headers=staff)
    )["reason"]

    # Check-in: a station and an activity (today, so the today page lists it) named by the payload.
    station = {"community_id": c1, "name": p, "address": p}
    ids["station"] = _ok(client.post("/api/v1/stations", json=station, headers=staff), 201)["id"]
    starts = datetime.now(UTC) - timedelta(minutes=5)
    activity = {
        "community_id": c1,
        "title": p,
        "place": p,
        "description": p,
        "kind": "volunteer",
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(hours=2)),
        "points_rule": "ACTIVITY_CHECKIN",
    }
    ids["activity"] = _ok(client.post("/api/v1/activities", json=activity, headers=staff), 201)["id"]
    with app.app_context():
        from checkin.tokens import issue_token

        token = issue_token("activity", ids["activity"]).token
    _ok(
        client.post(
            "/api/v1/checkins",
            json={"token": token, "nonce": unique("nonce-x-"), "device_id": p},
            headers=member,
        ),
        201,
    )
    ids.update(headers={"resident": resident, "member": member, "staff": staff, "admin": admin})
    return ids


@pytest.mark.parametrize("written", PAYLOADS, indirect=True)
def test_every_text_field_stores_the_payload_as_plain_text(app, client, written):
    p, h, c1 = written["payload"], written["headers"], None
    me = _ok(client.get("/api/v1/me", headers=h["resident"]))
    c1 = me["community_id"]
    assert me["nickname"] == p
    [report] = _ok(client.get("/api/v1/party-reports?status=pending", headers=h["staff"]))["items"]
    assert (report["nickname"], report["branch"], report["employer"]) == (p, p, p)
    assert written["report_reason"] == p

    pending = _ok(client.get(f"/api/v1/wishes/{written['wish_pending']}", headers=h["resident"]))
    assert (
        pending["title"],
        pending["content"],
        pending["contact"]["name"],
        pending["contact"]["address"],
    ) == (
        p,
        p,
        p,
        p,
    )
    done = _ok(client.get(f"/api/v1/wishes/{written['wish_done']}", headers=h["resident"]))
    assert (done["fulfil_note"], done["comment"], done["claimer_name"]) == (p, p, p)
    rejected = _ok(client.get(f"/api/v1/wishes/{written['wish_rejected']}", headers=h["resident"]))
    assert rejected["reject_reason"] == p

    history = _ok(client.get("/api/v1/me/points/history", headers=h["resident"]))["items"]
    assert {entry["reason"] for entry in history if entry["reason"]} == {p}
    assert written["adjustment_reason"] == written["reversal_reason"] == p
    [rule] = [
        r
        for r in _ok(client.get("/api/v1/points/rules", headers=h["resident"]))["items"]
        if r["code"] == "INJECTED"
    ]
    assert (rule["name"], rule["category"]) == (p, p)

    [item] = _ok(client.get(f"/api/v1/store/items?community_id={c1}", headers=h["resident"]))["items"]
    assert (item["name"], item["description"], item["sponsor"]) == (p, p, p)
    [redemption] = _ok(client.get("/api/v1/me/redemptions", headers=h["resident"]))["items"]
    assert (redemption["item_name"], redemption["reason"]) == (p, p) == (p, written["redemption_reason"])

    [station] = _ok(client.get(f"/api/v1/stations?community_id={c1}", headers=h["resident"]))["items"]
    assert (station["name"], station["address"]) == (p, p)
    activity = _ok(client.get(f"/api/v1/activities/{written['activity']}", headers=h["resident"]))
    assert (activity["title"], activity["place"], activity["description"]) == (p, p, p)

    # what the API does not send back, as stored: reasons of a release, a cancellation, a stock change
    with app.app_context():
        from checkin.models import CheckIn
        from store.models import StockChange
        from wishes.models import Wish, WishClaim

        released = db.session.scalars(select(WishClaim).where(WishClaim.outcome == "released")).one()
        assert released.reason == p
        assert db.session.get_one(Wish, written["wish_cancelled"]).cancel_reason == p
        assert db.session.scalars(select(StockChange.reason).where(StockChange.stock_to == 9)).one() == p
        assert db.session.scalars(select(CheckIn.device_id)).one() == p

    # and no statement ran: every table is still there, with its rows
    with app.app_context():
        present = set(inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= present
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 3


def _console_pages(w: dict[str, Any]) -> dict[str, bool]:
    """Console pages, and whether each shows the payload (True) or only must not break on it."""
    a, s, i = w["activity"], w["station"], w["item"]
    return {
        "/console/": False,  # today's activities come in the panel below
        "/console/today/checkins": True,
        "/console/party-reports": True,
        "/console/wishes": True,
        f"/console/wishes/{w['wish_pending']}": True,
        f"/console/wishes/{w['wish_done']}": True,
        f"/console/wishes/{w['wish_rejected']}": True,
        f"/console/wishes/{w['wish_released']}": True,
        f"/console/wishes/{w['wish_cancelled']}": True,
        "/console/wishes?status=completed": True,
        "/console/redemptions?status=rejected": True,
        f"/console/redemptions/{w['redemption']}": True,
        "/console/store": True,
        f"/console/store/{i}": True,
        "/console/members?q=" + str(w["resident"]): False,  # (searched by the payload below)
        f"/console/members/{w['resident']}": True,
        "/console/activities": True,
        f"/console/activities/{a}": True,
        f"/console/activities/{a}/edit": True,
        f"/console/activities/{a}/screen": True,
        f"/console/activities/{a}/poster": True,
        "/console/stations": True,
        f"/console/stations/{s}/edit": True,
        f"/console/stations/{s}/screen": True,
        f"/console/stations/{s}/poster": True,
        "/console/reports?org=C1": False,
    }


@pytest.mark.parametrize("written", PAYLOADS, indirect=True)
def test_the_console_shows_every_payload_escaped(app, written):
    p = written["payload"]
    staff = written["staff"]
    console = _console_client(app, staff.username, staff.password)
    safe = str(escape(p))
    problems = []
    for path, shows in _console_pages(written).items():
        response = console.get(path)
        html = response.get_data(as_text=True)
        if response.status_code != 200:
            problems.append(f"{path}: {response.status_code}")
            continue
        if safe != p and p in html:
            problems.append(f"{path}: the raw payload is in the page")
        if shows and safe not in html:
            problems.append(f"{path}: the payload is not shown (escaped)")
    # typed into a search box or a filter: reflected, escaped
    for path, field in (
        ("/console/members", "q"),
        ("/console/wishes", "category"),
        ("/console/login", "next"),
    ):
        browser = app.test_client() if path == "/console/login" else console  # logged out for the login page
        response = browser.get(path, query_string={field: p})
        html = response.get_data(as_text=True)
        if response.status_code != 200:
            problems.append(f"{path}?{field}=: {response.status_code}")
        if safe != p and p in html:
            problems.append(f"{path}?{field}=: the raw payload is reflected")
        if path == "/console/members" and safe not in html:
            problems.append(f"{path}?{field}=: the member found by the payload is not shown")
    assert not problems, "\n".join(problems)


def test_a_name_starting_with_equals_is_text_in_the_excel_export_not_a_formula(
    app, client, org_tree, make_staff, login_staff, login_user
):
    from openpyxl import load_workbook

    staff = bearer(login_staff(make_staff(org="C1")))
    tokens = login_user("formula")
    nickname = '=HYPERLINK("http://evil.example","x")'
    body = {"nickname": nickname, "community_id": org_tree["C1"].id}
    _ok(client.patch("/api/v1/me", json=body, headers=bearer(tokens)))
    adjustment = {"user_id": tokens["user"]["id"], "amount": 10, "reason": "志愿服务"}
    _ok(client.post("/api/v1/points/adjustments", json=adjustment, headers=staff), 201)

    response = client.get("/api/v1/reports/export?org=C1", headers=staff)

    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    [name] = [cell for cell in cells if isinstance(cell.value, str) and cell.value.startswith("=")]
    assert (name.value, name.data_type) == ("=**", "s")  # the masked name, as text


# --- oversized bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "who"),
    [("/api/v1/wishes", "resident"), ("/api/v1/auth/wechat", None), ("/api/v1/auth/staff", None)],
)
def test_a_json_body_over_max_content_length_is_413_in_the_envelope(
    app, client, login_user, monkeypatch, path, who
):
    headers = bearer(login_user("big")) if who else {}
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10_000)
    before = snapshot(app)
    body = {
        "title": "大",
        "content": "x" * 20_000,
        "category": "其他",
        "code": "a.1",
        "username": "u",
        "password": "p",
    }

    response = client.post(path, json=body, headers={**headers, "Accept-Language": "en"})

    assert response.status_code == 413
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE" and error["message"]
    assert changed_tables(before, snapshot(app)) == {}


def test_an_upload_over_max_content_length_is_413_and_stores_nothing(app, client, login_user, monkeypatch):
    headers = bearer(login_user("big"))
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10_000)
    before = snapshot(app)
    data = {"file": (io.BytesIO(jpeg_bytes() + b"\0" * 20_000), "photo.jpg", "image/jpeg")}
    response = client.post("/api/v1/files", data=data, content_type="multipart/form-data", headers=headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert changed_tables(before, snapshot(app)) == {}


# --- upload type confusion ----------------------------------------------------------------------------------


def _upload(client: FlaskClient, headers: dict[str, str], data: bytes, name: str = "photo.jpg") -> Any:
    return client.post(
        "/api/v1/files",
        data={"file": (io.BytesIO(data), name, "image/jpeg")},
        content_type="multipart/form-data",
        headers=headers,
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", id="html"),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            id="svg-with-prolog",
        ),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n%%EOF", id="pdf"),
        pytest.param(b"PK\x03\x04" + b"\0" * 60, id="zip"),
        pytest.param(b"\xef\xbb\xbf<script>alert(1)</script>", id="html-with-bom"),
    ],
)
def test_a_non_image_sent_as_image_jpeg_named_jpg_is_415_and_stores_nothing(app, client, login_user, data):
    headers = bearer(login_user("uploader"))
    before = snapshot(app)
    response = _upload(client, headers, data)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert changed_tables(before, snapshot(app)) == {}


def _jpeg_with_comment(comment: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (30, 120, 200)).save(out, "JPEG", comment=comment)
    return out.getvalue()


@pytest.mark.parametrize(
    "polyglot",
    [
        pytest.param(jpeg_bytes() + b"<script>alert(1)</script><html>", id="script-after-the-image"),
        pytest.param(_jpeg_with_comment(b"<script>alert(1)</script>"), id="script-in-a-comment"),
        pytest.param(
            jpeg_bytes() + b"PK\x03\x04payload.html<script>alert(1)</script>", id="zip-after-the-image"
        ),
    ],
)
def test_a_polyglot_jpeg_is_stored_re_encoded_and_served_as_a_jpeg_with_nosniff(client, login_user, polyglot):
    assert b"<script>" in polyglot  # the premise
    response = _upload(client, bearer(login_user("uploader")), polyglot)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == "image/jpeg"

    served = client.get(body["url"])

    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script" not in served.data and b"PK\x03\x04" not in served.data
    assert served.data.startswith(b"\xff\xd8") and served.data.rstrip(b"\0").endswith(b"\xff\xd9")
    assert Image.open(io.BytesIO(served.data)).size == (16, 12)


# --- rate limits --------------------------------------------------------------------------------------------


def _assert_429(response: Any) -> None:
    assert response.status_code == 429
    assert response.is_json
    assert response.get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) > 0


def test_wechat_login_is_limited_per_code_with_retry_after(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    responses = [client.post("/api/v1/auth/wechat", json={"code": "same-code.1"}) for _ in range(3)]
    assert [r.status_code for r in responses[:2]] == [200, 401]
    _assert_429(responses[2])


def test_staff_login_is_limited_per_username_even_with_the_right_password(
    app, client, make_staff, monkeypatch
):
    staff = make_staff(org="C1")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    wrong = [
        client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"})
        for _ in range(2)
    ]
    right = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert [r.status_code for r in wrong] == [401, 401]
    _assert_429(right)


@pytest.mark.parametrize("path", ["/api/v1/auth/wechat", "/api/v1/auth/staff", "/api/v1/auth/refresh"])
def test_login_routes_are_limited_per_address(app, client, monkeypatch, path):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_ADDRESS", "3 per minute")
    body = {"code": "x.1", "username": "nobody", "password": "wrong-password", "refresh_token": "nonsense"}
    responses = [
        client.post(
            path, json={**body, "code": unique("addr-") + ".1"}, environ_base={"REMOTE_ADDR": "10.7.7.7"}
        )
        for _ in range(4)
    ]
    assert all(r.status_code != 429 for r in responses[:3])
    _assert_429(responses[3])
    elsewhere = client.post(path, json=body, environ_base={"REMOTE_ADDR": "10.7.7.8"})
    assert elsewhere.status_code != 429


def test_a_forged_forwarded_for_does_not_buy_a_fresh_address_budget(app, client, monkeypatch):
    # F13 of the security review: X-Forwarded-For was always believed, so a client reaching the app
    # directly sent a new address with every guess and the per-address limit never fired.
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_ADDRESS", "3 per minute")
    body = {"username": "nobody", "password": "wrong-password"}
    responses = [
        client.post(
            "/api/v1/auth/staff",
            json=body,
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            environ_base={"REMOTE_ADDR": "10.7.7.9"},
        )
        for i in range(4)
    ]
    assert all(r.status_code != 429 for r in responses[:3])
    _assert_429(responses[3])


def test_behind_a_configured_proxy_its_forwarded_for_is_the_address(wechat_fake, tmp_path):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from server.app import create_app

    settings = {
        "LINLI_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'proxy.sqlite3'}",
        "INSTANCE_DIR": str(tmp_path),
        "WECHAT_API_BASE": wechat_fake.url,
        "TRUSTED_PROXY_HOPS": 1,
    }
    proxied = create_app(settings)
    assert isinstance(proxied.wsgi_app, ProxyFix)
    assert (proxied.wsgi_app.x_for, proxied.wsgi_app.x_proto) == (1, 1)
    assert not isinstance(create_app({**settings, "TRUSTED_PROXY_HOPS": 0}).wsgi_app, ProxyFix)


@pytest.fixture
def open_activity(app, client, org_tree, make_staff, login_staff) -> int:
    """An activity of C1 open to everyone (these residents chose no community), its window open now."""
    starts = datetime.now(UTC) - timedelta(minutes=5)
    body = {
        "community_id": org_tree["C1"].id,
        "title": "社区开放日",
        "kind": "volunteer",
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(hours=2)),
        "points_rule": "PARTY_DAY",
        "open_to_all": True,
    }
    staff = bearer(login_staff(make_staff(org="C1")))
    activity_id: int = _ok(client.post("/api/v1/activities", json=body, headers=staff), 201)["id"]
    return activity_id


def test_check_in_is_limited_per_member_and_check_out_shares_the_budget(
    app, client, login_user, open_activity, monkeypatch
):
    monkeypatch.setitem(app.config, "CHECKIN_RATE_LIMIT", "3 per minute")
    member, other = bearer(login_user("hasty")), bearer(login_user("calm"))
    with app.app_context():
        from checkin.tokens import issue_token

        token = issue_token("activity", open_activity).token
    nonce = unique("nonce-rl-")
    first = _ok(client.post("/api/v1/checkins", json={"token": token, "nonce": nonce}, headers=member), 201)
    replay = client.post("/api/v1/checkins", json={"token": token, "nonce": nonce}, headers=member)
    checkout = client.post(
        f"/api/v1/checkins/{first['id']}/checkout", json={"nonce": unique("nonce-out-")}, headers=member
    )
    assert (replay.status_code, checkout.status_code) == (200, 200)
    before = snapshot(app)

    limited = client.post(
        "/api/v1/checkins", json={"token": token, "nonce": unique("nonce-rl-")}, headers=member
    )

    _assert_429(limited)
    assert changed_tables(before, snapshot(app)) == {}
    _assert_429(
        client.post(
            f"/api/v1/checkins/{first['id']}/checkout", json={"nonce": unique("nonce-out-")}, headers=member
        )
    )
    # another member is not held back by the first one's budget
    _ok(
        client.post("/api/v1/checkins", json={"token": token, "nonce": unique("nonce-rl-")}, headers=other),
        201,
    )


def test_the_default_check_in_limit_lets_a_member_retry_on_a_bad_network(
    app, client, login_user, open_activity
):
    assert app.config["CHECKIN_RATE_LIMIT"] == "30 per minute"
    member = bearer(login_user("patient"))
    with app.app_context():
        from checkin.tokens import issue_token

        token = issue_token("activity", open_activity).token
    nonce = unique("nonce-retry-")
    statuses = {
        client.post("/api/v1/checkins", json={"token": token, "nonce": nonce}, headers=member).status_code
        for _ in range(20)
    }
    assert statuses <= {200, 201}
