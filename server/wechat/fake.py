"""A fake WeChat API server (a Flask app) for tests and local demos.

It fakes the endpoints WeChatClient uses, answering like WeChat does: HTTP 200 with
``{"errcode": N, "errmsg": "... rid: ..."}`` on errors.

* ``GET /sns/jscode2session``: 41002/41004 appid/secret missing, 40013 invalid appid,
  40125 invalid appsecret, 40002 bad grant_type, 40029 invalid code, 40163 code been used,
  40226 for a code starting ``blocked`` (a user WeChat's risk control blocks).
  A code is valid when it matches ``user[.suffix]`` (letters, digits, ``_``, ``-``) and does not
  start with ``invalid``; ``alice.1`` and ``alice.2`` are two logins of the same user ``alice``.
* ``POST /cgi-bin/stable_token``: the same credential checks; the current token is returned
  while valid, ``force_refresh`` issues a new one (the old one stays valid).
* Token-taking endpoints: 41001 access_token missing, 40001 invalid, 42001 expired.
* ``POST /wxa/business/getuserphonenumber``: 40029/40163 as for login codes; "138" numbers.
* ``POST /cgi-bin/message/subscribe/send``: 40003 unknown openid, 40037 template id starting
  with ``invalid``, 47003 empty data or a ``thing*`` value over 20 characters, 43101 for users
  whose name starts with ``refuse``; sent messages are kept in ``state.messages``.
* ``POST /wxa/msg_sec_check``: 40097 unless version 2 with content; "违规"/"risky" → risky 20001,
  "待审"/"review" → review 21000, otherwise pass 100.
* ``POST /wxa/getwxacodeunlimit``: 40097 bad scene, 41030 page starting with ``invalid``,
  otherwise a PNG QR code of ``"{page}?scene={scene}"``.
* Test control under ``/_fake/``: ``POST expire-tokens``, ``GET messages``, ``GET calls``,
  ``POST reset`` and ``POST fail`` with ``{"path", "times", "errcode" | "status" | "delay"}``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import qrcode
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

TOKEN_LIFETIME = 7200
_CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,32})?")
_SCENE_RE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
_INJECTED_ERRMSG = {
    -1: "system error",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit",
}


@dataclass
class Injection:
    """One injected answer for a path: an errcode, an HTTP status, or a delay before answering."""

    errcode: int | None = None
    status: int | None = None
    delay: float = 0.0


@dataclass
class FakeWeChatState:
    """Everything the fake remembers; guard mutations with ``lock``."""

    appid: str
    secret: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    used_login_codes: set[str] = field(default_factory=set)
    used_phone_codes: set[str] = field(default_factory=set)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (time.time())
    current_token: str | None = None
    users: dict[str, str] = field(default_factory=dict)  # openid -> user part of the login code
    messages: list[dict[str, Any]] = field(default_factory=list)
    wxacode_requests: list[dict[str, Any]] = field(default_factory=list)  # bodies of getwxacodeunlimit
    calls: Counter[str] = field(default_factory=Counter)
    injections: dict[str, list[Injection]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget codes, tokens, users, messages, calls and injections."""
        with self.lock:
            self.used_login_codes.clear()
            self.used_phone_codes.clear()
            self.tokens.clear()
            self.current_token = None
            self.users.clear()
            self.messages.clear()
            self.wxacode_requests.clear()
            self.calls.clear()
            self.injections.clear()

    def openid_for(self, user: str) -> str:
        """The openid of ``user`` (registering it as a user of the mini program)."""
        openid = "o" + _digest(f"{self.appid}:{user}")
        with self.lock:
            self.users[openid] = user
        return openid

    def unionid_for(self, user: str) -> str:
        """The unionid of ``user`` (the same for every appid)."""
        return "U" + _digest(f"union:{user}")

    def stable_token(self, force_refresh: bool) -> tuple[str, int]:
        """The current access token and its remaining seconds; a new one if forced or none is valid."""
        now = time.time()
        with self.lock:
            token = self.current_token
            remaining = int(self.tokens.get(token, 0.0) - now) if token else 0
            if token is None or force_refresh or remaining <= 0:
                # Older tokens stay valid, as WeChat keeps them for a while after a forced refresh.
                token, remaining = secrets.token_urlsafe(48), TOKEN_LIFETIME
                self.tokens[token] = now + TOKEN_LIFETIME
                self.current_token = token
            return token, remaining


def create_fake_wechat(appid: str = "wx-fake-appid", secret: str = "fake-secret") -> Flask:  # noqa: S107  (the local fake WeChat's credential)
    """A Flask app faking the WeChat API for ``appid``/``secret``."""
    app = Flask(__name__)
    app.extensions["fake_wechat"] = FakeWeChatState(appid=appid, secret=secret)
    app.register_blueprint(_bp)
    return app


def fake_state(app: Flask) -> FakeWeChatState:
    """The state of a fake made by create_fake_wechat."""
    state: FakeWeChatState = app.extensions["fake_wechat"]
    return state


_bp = Blueprint("fake_wechat", __name__)


def _state() -> FakeWeChatState:
    return fake_state(current_app)


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()[:27]


def _ok(**fields: Any) -> Response:
    return jsonify({"errcode": 0, "errmsg": "ok", **fields})


def _error(errcode: int, errmsg: str) -> Response:
    rid = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(4)}"
    return jsonify({"errcode": errcode, "errmsg": f"{errmsg} rid: {rid}"})


def _body() -> dict[str, Any] | None:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None


def _check_credentials(appid: Any, secret: Any) -> Response | None:
    state = _state()
    if not appid:
        return _error(41002, "appid missing")
    if not secret:
        return _error(41004, "appsecret missing")
    if appid != state.appid:
        return _error(40013, "invalid appid")
    if secret != state.secret:
        return _error(40125, "invalid appsecret")
    return None


def _use_code(code: Any, used: set[str]) -> tuple[str | None, Response | None]:
    """The user part of a one-time code, or the error answer."""
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code) or code.startswith("invalid"):
        return None, _error(40029, "invalid code")
    if code.startswith("blocked"):
        return None, _error(40226, "high risk user, login blocked")
    with _state().lock:
        if code in used:
            return None, _error(40163, "code been used")
        used.add(code)
    return code.split(".", 1)[0], None


def _check_token() -> Response | None:
    token = request.args.get("access_token")
    if not token:
        return _error(41001, "access_token missing")
    expires_at = _state().tokens.get(token)
    if expires_at is None:
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    if time.time() >= expires_at:
        return _error(42001, "access_token expired")
    return None


@_bp.before_request
def _count_and_inject() -> Response | tuple[str, int] | None:
    if request.path.startswith("/_fake/"):
        return None
    state = _state()
    with state.lock:
        state.calls[request.path] += 1
        queue = state.injections.get(request.path)
        injection = queue.pop(0) if queue else None
    if injection is None:
        return None
    if injection.delay:
        time.sleep(injection.delay)
    if injection.status is not None:
        return f"injected HTTP {injection.status}", injection.status
    if injection.errcode is not None:
        return _error(injection.errcode, _INJECTED_ERRMSG.get(injection.errcode, "injected error"))
    return None


@_bp.get("/sns/jscode2session")
def jscode2session() -> Response:
    """Exchange a login code for openid, session_key and unionid."""
    args = request.args
    error = _check_credentials(args.get("appid"), args.get("secret"))
    if error is not None:
        return error
    if args.get("grant_type") != "authorization_code":
        return _error(40002, "invalid grant_type")
    state = _state()
    user, error = _use_code(args.get("js_code"), state.used_login_codes)
    if user is None:
        return error or _error(40029, "invalid code")
    return jsonify(
        {
            "openid": state.openid_for(user),
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "unionid": state.unionid_for(user),
        }
    )


@_bp.post("/cgi-bin/stable_token")
def stable_token() -> Response:
    """The app's access token; ``force_refresh`` issues a new one."""
    body = _body()
    if body is None:
        return _error(47001, "data format error")
    error = _check_credentials(body.get("appid"), body.get("secret"))
    if error is not None:
        return error
    if body.get("grant_type") != "client_credential":
        return _error(40002, "invalid grant_type")
    token, expires_in = _state().stable_token(bool(body.get("force_refresh")))
    return jsonify({"access_token": token, "expires_in": expires_in})


@_bp.post("/wxa/business/getuserphonenumber")
def getuserphonenumber() -> Response:
    """The phone number behind a phone code: "138" and 8 digits derived from the user part."""
    error = _check_token()
    if error is not None:
        return error
    body = _body() or {}
    state = _state()
    user, error = _use_code(body.get("code"), state.used_phone_codes)
    if user is None:
        return error or _error(40029, "invalid code")
    number = "138" + f"{int(hashlib.sha256(user.encode()).hexdigest(), 16) % 10**8:08d}"
    return _ok(
        phone_info={
            "phoneNumber": number,
            "purePhoneNumber": number,
            "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": state.appid},
        }
    )


@_bp.post("/cgi-bin/message/subscribe/send")
def subscribe_send() -> Response:
    """Send (record) a subscribe message."""
    error = _check_token()
    if error is not None:
        return error
    body = _body()
    if body is None:
        return _error(47001, "data format error")
    state = _state()
    user = state.users.get(str(body.get("touser", "")))
    if user is None:
        return _error(40003, "invalid openid")
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id or template_id.startswith("invalid"):
        return _error(40037, "invalid template id")
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        return _error(47003, "argument invalid! data is empty")
    values: dict[str, str] = {}
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or (key.startswith("thing") and len(value) > 20):
            return _error(47003, f"argument invalid! data.{key}.value invalid")
        values[key] = value
    if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
        return _error(40097, "invalid args: miniprogram_state")
    if user.startswith("refuse"):
        return _error(43101, "user refuse to accept the msg")
    with state.lock:
        state.messages.append(
            {
                "openid": body["touser"],
                "template_id": template_id,
                "data": values,
                "page": body.get("page"),
                "miniprogram_state": body.get("miniprogram_state", "formal"),
                "time": time.time(),
            }
        )
        msgid = len(state.messages)
    return _ok(msgid=msgid)


@_bp.post("/wxa/msg_sec_check")
def msg_sec_check() -> Response:
    """Text security check, version 2."""
    error = _check_token()
    if error is not None:
        return error
    body = _body() or {}
    content = body.get("content")
    if body.get("version") != 2 or not isinstance(content, str) or not content:
        return _error(40097, "invalid args")
    if body.get("scene") not in (1, 2, 3, 4):
        return _error(40097, "invalid args: scene")
    if str(body.get("openid", "")) not in _state().users:
        return _error(40003, "invalid openid")
    if "违规" in content or "risky" in content:
        suggest, label = "risky", 20001
    elif "待审" in content or "review" in content:
        suggest, label = "review", 21000
    else:
        suggest, label = "pass", 100
    detail = [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]
    return _ok(result={"suggest": suggest, "label": label}, detail=detail, trace_id=secrets.token_hex(12))


@_bp.post("/wxa/getwxacodeunlimit")
def getwxacodeunlimit() -> Response:
    """A PNG QR code standing in for the mini program code."""
    error = _check_token()
    if error is not None:
        return error
    body = _body() or {}
    scene = body.get("scene")
    if not isinstance(scene, str) or not _SCENE_RE.fullmatch(scene):
        return _error(40097, "invalid args: scene")
    if body.get("env_version", "release") not in ("release", "trial", "develop"):
        return _error(40097, "invalid args: env_version")
    page = body.get("page") or "pages/index/index"
    if not isinstance(page, str) or page.startswith("invalid"):
        return _error(41030, "invalid page")
    state = _state()
    with state.lock:
        state.wxacode_requests.append(dict(body))
    width = body.get("width", 430)
    width = min(max(int(width), 280), 1280) if isinstance(width, int) else 430
    image = qrcode.make(f"{page}?scene={scene}", border=2).get_image().resize((width, width))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Response(buffer.getvalue(), mimetype="image/png")


@_bp.post("/_fake/expire-tokens")
def fake_expire_tokens() -> Response:
    """Make every issued access token invalid."""
    state = _state()
    with state.lock:
        state.tokens.clear()
        state.current_token = None
    return jsonify({"ok": True})


@_bp.get("/_fake/messages")
def fake_messages() -> Response:
    """The subscribe messages sent so far."""
    state = _state()
    with state.lock:
        return jsonify(list(state.messages))


@_bp.get("/_fake/calls")
def fake_calls() -> Response:
    """How many times each API path was called."""
    state = _state()
    with state.lock:
        return jsonify(dict(state.calls))


@_bp.post("/_fake/fail")
def fake_fail() -> Response | tuple[Response, int]:
    """Inject the next ``times`` answers of ``path``: an errcode, an HTTP status or a delay."""
    body = _body() or {}
    path, times = body.get("path"), body.get("times", 1)
    kinds = [key for key in ("errcode", "status", "delay") if key in body]
    if not isinstance(path, str) or not path.startswith("/") or not isinstance(times, int) or times < 1:
        return jsonify({"error": "need a path starting with / and times >= 1"}), 400
    if len(kinds) != 1:
        return jsonify({"error": "need exactly one of errcode, status, delay"}), 400
    try:
        injection = Injection(
            errcode=int(body["errcode"]) if "errcode" in body else None,
            status=int(body["status"]) if "status" in body else None,
            delay=float(body.get("delay", 0.0)),
        )
    except (TypeError, ValueError):
        return jsonify({"error": f"{kinds[0]} must be a number"}), 400
    state = _state()
    with state.lock:
        state.injections.setdefault(path, []).extend(injection for _ in range(times))
    return jsonify({"ok": True})


@_bp.post("/_fake/reset")
def fake_reset() -> Response:
    """Forget everything."""
    _state().reset()
    return jsonify({"ok": True})


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as WeChat's API answers (Werkzeug's default is HTTP/1.0)."""

    protocol_version = "HTTP/1.1"


def serve_fake_wechat(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded HTTP server for the fake (call ``serve_forever`` on a thread; ``shutdown`` to stop)."""
    return make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
