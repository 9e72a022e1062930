"""A simulator of the WeChat mini-program runtime on Flask's test client, and the client code a careful
mini program runs on it (``Phone``).

The runtime (``Wx``) behaves as WeChat documents it:

* ``wx.request`` hands every HTTP status to ``success`` as ``{statusCode, data, header}`` (``data`` parsed
  as JSON when it is JSON, else the text); only a missing answer goes to ``fail``. ``lose_answer`` makes the
  server do the work and the phone never see the answer (``request:fail timeout``).
* ``wx.uploadFile`` sends one file as multipart under ``name`` (``file``) with ``formData`` beside it, and
  gives ``res.data`` as a *string*.
* ``wx.login`` codes and getPhoneNumber codes are new each time; the fake WeChat takes each once.
* ``wx.requestSubscribeMessage`` answers ``{"errMsg": "requestSubscribeMessage:ok", "<tmplId>": "accept" |
  "reject" | "ban"}``, at most 3 ids a call.
* ``wx.getLocation`` answers WGS-84 unless ``type="gcj02"`` (the public GCJ-02 transform, written here
  again so the test does not lean on the library the server uses; checked against published points).
* ``wx.scanCode`` answers ``result`` (and ``path`` for this app's mini-program code); WeChat's own 扫一扫
  (``WeChat.scan``) opens the page with ``query.scene`` (URL-encoded) for a mini-program code, or
  ``query.q`` (the whole link, URL-encoded) for a link under a registered rule, and shows text otherwise.

``Phone`` is the client: it keeps the tokens, refreshes on ``401 TOKEN_EXPIRED_LOGIN`` (without a
single flight, so calls made at once refresh at once), resends a request whose answer was lost with the
same body and ``Idempotency-Key``, and parses what ``uploadFile`` gives.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from flask import Flask

from server import clock

# --- coordinates: the public WGS-84 → GCJ-02 transform (Krasovsky 1940 ellipsoid) ----------------------

_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lat: float, lng: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _shift_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _shift_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """What ``wx.getLocation({type: 'gcj02'})`` reports for a WGS-84 position (lat, lng)."""
    if _out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _shift_lat(lng - 105.0, lat - 35.0), _shift_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84_once(lat: float, lng: float) -> tuple[float, float]:
    """The published one-step inverse (``2·p − f(p)``, as wandergis/coordtransform's gcj02towgs84)."""
    glat, glng = wgs84_to_gcj02(lat, lng)
    return lat * 2 - glat, lng * 2 - glng


def wgs84_under(lat: float, lng: float) -> tuple[float, float]:
    """The WGS-84 position whose GCJ-02 is (lat, lng), to well under a centimetre (fixed-point iteration)."""
    wlat, wlng = gcj02_to_wgs84_once(lat, lng)
    for _ in range(10):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        wlat, wlng = wlat - (glat - lat), wlng - (glng - lng)
    return wlat, wlng


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def encode_uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent, which WeChat uses on ``scene`` and ``q``."""
    return quote(text, safe="-_.!~*'()")


def decode_uri_component(text: str) -> str:
    """JavaScript's decodeURIComponent."""
    return unquote(text)


# --- codes a member can point a camera at ----------------------------------------------------------------


@dataclass(frozen=True)
class LinkQR:
    """A plain QR code holding text (Linli's door screen and poster fallback hold an https link)."""

    text: str


@dataclass(frozen=True)
class WxaCode:
    """A mini-program code (wxacode) made by getwxacodeunlimit: a page and a scene."""

    page: str
    scene: str


Code = LinkQR | WxaCode


@dataclass(frozen=True)
class Launch:
    """WeChat opened the mini program at ``page`` with ``query`` (onLoad's options)."""

    page: str
    query: dict[str, str]


@dataclass(frozen=True)
class ShownText:
    """WeChat's scanner found no program to open and shows the text."""

    text: str


class WeChat:
    """WeChat itself, outside the mini program: its 扫一扫 and the "扫普通链接二维码打开小程序" rules."""

    def __init__(self, link_rules: dict[str, str]) -> None:
        self.link_rules = link_rules  # URL prefix → page of the mini program

    def scan(self, code: Code) -> Launch | ShownText:
        """What a member sees after scanning ``code`` with WeChat's own scanner."""
        if isinstance(code, WxaCode):
            return Launch(code.page, {"scene": encode_uri_component(code.scene)})
        for prefix, page in self.link_rules.items():
            if code.text.startswith(prefix):
                scanned_at = str(int(clock.now().timestamp()))
                return Launch(page, {"q": encode_uri_component(code.text), "scancode_time": scanned_at})
        return ShownText(code.text)


# --- the runtime ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSuccess:
    """What ``success`` of wx.request (or wx.uploadFile) receives: every HTTP status lands here."""

    statusCode: int
    data: Any
    header: dict[str, str]
    errMsg: str = "request:ok"


@dataclass(frozen=True)
class RequestFail:
    """What ``fail`` receives: no answer reached the phone."""

    errMsg: str


@dataclass(frozen=True)
class Exchange:
    """One request the phone sent, what it sent, what the server answered (status and raw body, even when
    the answer was lost), and what the phone saw (``"lost"`` when no answer came)."""

    method: str
    path: str
    header: dict[str, str]
    body: Any
    status: int
    answered: bytes
    seen: int | Literal["lost"]

    def answered_json(self) -> Any:
        """The server's answer parsed (for comparing a resend's answer with the one lost)."""
        return json.loads(self.answered)


_codes = itertools.count(1)
_codes_lock = threading.Lock()


def _next_code() -> int:
    with _codes_lock:
        return next(_codes)


@dataclass
class Device:
    """What the phone knows of the world: where it is (WGS-84, as GPS gives it), its permissions, photos."""

    position: tuple[float, float] | None = None
    accuracy_m: float = 20.0
    location_allowed: bool = True
    photos: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # temp path → (bytes, MIME type)


class Wx:
    """The ``wx`` object of one phone, for one WeChat user, talking to ``app`` over its test client."""

    def __init__(self, app: Flask, wechat_user: str, domains: Sequence[str] = ("localhost",)) -> None:
        self.app = app
        self.wechat_user = wechat_user
        self.domains = set(domains)  # the request 合法域名 of the mini program
        self.device = Device()
        self.log: list[Exchange] = []
        self.subscribe_dialog: dict[str, Literal["accept", "reject"]] = {}  # what the user taps, per id
        self.banned_templates: set[str] = set()
        self._losses: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    # Network ---------------------------------------------------------------------------------------------

    def lose_answer(self, method: str, path: str, times: int = 1) -> None:
        """The next ``times`` answers to ``method path`` are lost on their way back (the server did the
        work)."""
        with self._lock:
            self._losses += [(method.upper(), path)] * times

    def _lost(self, method: str, path: str) -> bool:
        with self._lock:
            if (method, path) in self._losses:
                self._losses.remove((method, path))
                return True
            return False

    def _split(self, url: str) -> tuple[str, str, str] | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in self.domains:
            return None
        return f"{parts.scheme}://{parts.netloc}", parts.path, parts.query

    def request(
        self,
        url: str,
        method: str = "GET",
        data: Any = None,
        header: dict[str, str] | None = None,
        responseType: Literal["text", "arraybuffer"] = "text",
        success: Callable[[RequestSuccess], None] | None = None,
        fail: Callable[[RequestFail], None] | None = None,
    ) -> RequestSuccess | RequestFail:
        """wx.request: JSON ``data`` (the query string for GET); every status is a success."""
        method = method.upper()
        split = self._split(url)
        if split is None:
            return _deliver(RequestFail("request:fail url not in domain list"), success, fail)
        base, path, query = split
        headers = {"content-type": "application/json", **(header or {})}
        kwargs: dict[str, Any] = {"method": method, "headers": headers, "base_url": base}
        if method == "GET":
            if data:
                query = "&".join(q for q in (query, urlencode(data)) if q)
        elif data is not None:
            kwargs["data"] = json.dumps(data, ensure_ascii=False)
        response = self.app.test_client().open(path, query_string=query or None, **kwargs)
        raw = response.get_data()
        lost = self._lost(method, path)
        self._record(method, path, headers, data, response.status_code, raw, "lost" if lost else None)
        if lost:
            return _deliver(RequestFail("request:fail timeout"), success, fail)
        body: Any = raw
        if responseType == "text":
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)  # dataType "json" (the default): parsed when it parses
            except ValueError:
                body = text
        return _deliver(RequestSuccess(response.status_code, body, dict(response.headers)), success, fail)

    def uploadFile(
        self,
        url: str,
        filePath: str,
        name: str = "file",
        header: dict[str, str] | None = None,
        formData: dict[str, str] | None = None,
    ) -> RequestSuccess | RequestFail:
        """wx.uploadFile: one file as multipart under ``name``; ``res.data`` is the answer as a string."""
        split = self._split(url)
        if split is None:
            return RequestFail("uploadFile:fail url not in domain list")
        if filePath not in self.device.photos:
            return RequestFail("uploadFile:fail file not found")
        base, path, _query = split
        content, mime = self.device.photos[filePath]
        form: dict[str, Any] = {
            **(formData or {}),
            name: (io.BytesIO(content), filePath.rsplit("/", 1)[-1], mime),
        }
        response = self.app.test_client().post(
            path, data=form, headers=header or {}, content_type="multipart/form-data", base_url=base
        )
        lost = self._lost("POST", path)
        raw = response.get_data()
        self._record(
            "POST", path, header or {}, "<multipart>", response.status_code, raw, "lost" if lost else None
        )
        if lost:
            return RequestFail("uploadFile:fail timeout")
        return RequestSuccess(
            response.status_code, response.get_data(as_text=True), dict(response.headers), "uploadFile:ok"
        )

    def _record(
        self,
        method: str,
        path: str,
        header: dict[str, str],
        body: Any,
        status: int,
        answered: bytes,
        lost: Literal["lost"] | None,
    ) -> None:
        with self._lock:
            self.log.append(Exchange(method, path, dict(header), body, status, answered, lost or status))

    def sent(self, method: str, path: str) -> list[Exchange]:
        """The exchanges of ``method path``, in order."""
        with self._lock:
            return [e for e in self.log if (e.method, e.path) == (method.upper(), path)]

    def lost_answer(self, method: str, path: str) -> Exchange:
        """The last exchange of ``method path`` whose answer the phone never saw."""
        lost = [e for e in self.sent(method, path) if e.seen == "lost"]
        assert lost, f"no lost answer to {method} {path}"
        return lost[-1]

    # Open abilities --------------------------------------------------------------------------------------

    def login(self) -> dict[str, str]:
        """wx.login: a fresh code each call (valid once)."""
        return {"code": f"{self.wechat_user}.w{_next_code()}", "errMsg": "login:ok"}

    def get_phone_number_tap(self, allow: bool = True) -> dict[str, Any]:
        """The event of a tap on ``<button open-type="getPhoneNumber">``: a fresh one-use code in detail."""
        if not allow:
            return {"detail": {"errMsg": "getPhoneNumber:fail user deny"}}
        return {"detail": {"code": f"{self.wechat_user}.p{_next_code()}", "errMsg": "getPhoneNumber:ok"}}

    def requestSubscribeMessage(self, tmplIds: list[str]) -> dict[str, str]:
        """The dialog's result: each id ``accept``/``reject`` as the user taps (default accept), ``ban``
        when the template is banned."""
        if not 1 <= len(tmplIds) <= 3:
            raise ValueError("wx.requestSubscribeMessage takes 1 to 3 template ids")
        result = {"errMsg": "requestSubscribeMessage:ok"}
        for tmpl in tmplIds:
            result[tmpl] = (
                "ban" if tmpl in self.banned_templates else self.subscribe_dialog.get(tmpl, "accept")
            )
        return result

    def getLocation(self, type: Literal["wgs84", "gcj02"] = "wgs84") -> dict[str, Any]:
        """wx.getLocation: WGS-84 by default, GCJ-02 when asked."""
        if not self.device.location_allowed:
            return {"errMsg": "getLocation:fail auth deny"}
        if self.device.position is None:
            return {"errMsg": "getLocation:fail"}
        lat, lng = self.device.position
        if type == "gcj02":
            lat, lng = wgs84_to_gcj02(lat, lng)
        accuracy = self.device.accuracy_m
        return {
            "latitude": lat,
            "longitude": lng,
            "speed": -1,
            "accuracy": accuracy,
            "altitude": 0,
            "verticalAccuracy": 0,
            "horizontalAccuracy": accuracy,
            "errMsg": "getLocation:ok",
        }

    def scanCode(self, code: Code) -> dict[str, str]:
        """wx.scanCode pointed at ``code``: ``result``, and ``path`` for this app's mini-program code."""
        if isinstance(code, WxaCode):
            return {
                "result": "",
                "scanType": "WX_CODE",
                "charSet": "UTF-8",
                "path": f"{code.page}?scene={encode_uri_component(code.scene)}",
                "errMsg": "scanCode:ok",
            }
        return {"result": code.text, "scanType": "QR_CODE", "charSet": "UTF-8", "errMsg": "scanCode:ok"}

    def take_photo(self, content: bytes, mime: str = "image/png") -> None:
        """The user takes a photo (it goes to the album chooseMedia offers)."""
        extension = {"image/png": "png", "image/jpeg": "jpg"}.get(mime, "bin")
        self.device.photos[f"wxfile://tmp_{_next_code()}.{extension}"] = (content, mime)

    def chooseMedia(self, count: int = 9) -> dict[str, Any]:
        """wx.chooseMedia: the user picks the latest ``count`` photos."""
        picked = list(self.device.photos.items())[-count:]
        files = [
            {"tempFilePath": path, "size": len(data), "fileType": "image"} for path, (data, _m) in picked
        ]
        return {"tempFiles": files, "type": "image", "errMsg": "chooseMedia:ok"}


def _deliver(
    result: RequestSuccess | RequestFail,
    success: Callable[[RequestSuccess], None] | None,
    fail: Callable[[RequestFail], None] | None,
) -> RequestSuccess | RequestFail:
    if isinstance(result, RequestSuccess) and success is not None:
        success(result)
    if isinstance(result, RequestFail) and fail is not None:
        fail(result)
    return result


# --- the mini program's client code -----------------------------------------------------------------------


@dataclass
class Answer:
    """What a page gets from ``Phone.call``: the answer the phone finally saw, and every try's outcome."""

    status: int
    body: Any
    header: dict[str, str]
    tries: list[int | Literal["lost"]]

    @property
    def code(self) -> str | None:
        """The error envelope's ``error.code``, if any."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code: str = self.body["error"]["code"]
            return code
        return None

    @property
    def replayed(self) -> bool:
        """Whether the server said it answered a resend from what it kept (``Idempotency-Replayed``)."""
        return self.header.get("Idempotency-Replayed") == "true"


class NoAnswer(AssertionError):
    """The phone tried ``max_tries`` times and never saw an answer (the page would show 网络异常)."""


@dataclass(frozen=True)
class Refresh:
    """One refresh the phone made: the status it saw and the pair it got (None when refused)."""

    status: int | Literal["lost"]
    pair: tuple[str, str] | None


class Phone:
    """One phone running the mini program: its tokens, and how it calls the API."""

    def __init__(self, wx: Wx, server: str = "http://localhost") -> None:
        self.wx = wx
        self.server = server
        self.config: dict[str, Any] = {}
        self.tokens: dict[str, Any] | None = None
        self.user: dict[str, Any] | None = None
        self.logins = 0
        self.refreshes: list[Refresh] = []
        self._lock = threading.Lock()
        self._refresh_barrier: threading.Barrier | None = None

    @property
    def api(self) -> str:
        """The API's base URL, from the start-up config once read."""
        base: str = self.config.get("api_base_url", f"{self.server}/api/v1")
        return base

    def launch(self) -> dict[str, Any]:
        """onLaunch: read ``GET /api/v1/config`` (public)."""
        answer = self.call("GET", "/config", auth=False)
        assert answer.status == 200, answer.body
        self.config = answer.body
        return self.config

    # Logging in ------------------------------------------------------------------------------------------

    def login(self) -> Answer:
        """wx.login → ``POST /auth/wechat``. A lost answer is resent with the same code; when WeChat then
        says the code was used, a fresh ``wx.login`` code is sent."""
        code = self.wx.login()["code"]
        tries: list[int | Literal["lost"]] = []
        for _ in range(4):
            result = self.wx.request(f"{self.api}/auth/wechat", "POST", {"code": code})
            if isinstance(result, RequestFail):
                tries.append("lost")
                continue
            tries.append(result.statusCode)
            answer = Answer(result.statusCode, result.data, result.header, list(tries))
            if answer.code == "WECHAT_CODE_INVALID" and "lost" in tries:
                code = self.wx.login()["code"]
                continue
            if answer.status == 200:
                self._keep(answer.body)
                with self._lock:
                    self.logins += 1
            return answer
        raise NoAnswer(f"login: {tries}")

    def login_staff(self, username: str, password: str) -> Answer:
        """A staff member logs in to the staff pages of the same mini program."""
        answer = self.call("POST", "/auth/staff", {"username": username, "password": password}, auth=False)
        if answer.status == 200:
            self._keep(answer.body)
            with self._lock:
                self.logins += 1
        return answer

    def _keep(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.tokens = {"access_token": body["access_token"], "refresh_token": body["refresh_token"]}
            self.user = body.get("user", self.user)

    def _refresh(self, stale_access: str) -> None:
        """Spend the refresh token for a new pair, unless another call already did since ``stale_access``
        failed; when the refresh is refused, log in again with a new wx.login code."""
        with self._lock:
            assert self.tokens is not None
            if self.tokens["access_token"] != stale_access:
                return
            refresh_token = self.tokens["refresh_token"]
        if self._refresh_barrier is not None:  # calls made at once meet here, then refresh at once
            with contextlib.suppress(threading.BrokenBarrierError):
                self._refresh_barrier.wait(timeout=10)
        for _ in range(3):
            result = self.wx.request(f"{self.api}/auth/refresh", "POST", {"refresh_token": refresh_token})
            if isinstance(result, RequestFail):
                with self._lock:
                    self.refreshes.append(Refresh("lost", None))
                continue
            if result.statusCode == 200:
                pair = (result.data["access_token"], result.data["refresh_token"])
                with self._lock:
                    self.refreshes.append(Refresh(200, pair))
                self._keep(result.data)
                return
            with self._lock:
                self.refreshes.append(Refresh(result.statusCode, None))
            break
        self.login()

    # Calling the API -------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        auth: bool = True,
        key: bool | str = True,
        header: dict[str, str] | None = None,
        responseType: Literal["text", "arraybuffer"] = "text",
        max_tries: int = 3,
    ) -> Answer:
        """One user action: ``method path`` under the API base, resent with the same body and
        ``Idempotency-Key`` (a new one per action, on every call that changes something) while answers
        are lost, and retried once after a refresh when the access token expired."""
        method = method.upper()
        sent = dict(header or {})
        if method != "GET" and key:
            sent["Idempotency-Key"] = key if isinstance(key, str) else f"tap-{uuid.uuid4().hex}"
        url = path if path.startswith("http") else f"{self.api}{path}"
        tries: list[int | Literal["lost"]] = []
        refreshed = False
        while len(tries) < max_tries + (1 if refreshed else 0):
            access = None
            if auth:
                with self._lock:
                    access = self.tokens["access_token"] if self.tokens else None
                if access:
                    sent["Authorization"] = f"Bearer {access}"
            result = self.wx.request(url, method, data, sent, responseType=responseType)
            if isinstance(result, RequestFail):
                tries.append("lost")
                continue
            tries.append(result.statusCode)
            answer = Answer(result.statusCode, result.data, result.header, list(tries))
            if answer.code == "TOKEN_EXPIRED_LOGIN" and access and not refreshed:
                self._refresh(access)
                refreshed = True
                continue
            return answer
        raise NoAnswer(f"{method} {path}: {tries}")

    def get(self, path: str, **query: Any) -> Answer:
        """GET with ``query`` as the query string."""
        return self.call("GET", path, query or None)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Answer:
        """POST a JSON body."""
        return self.call("POST", path, data, **kwargs)

    def patch(self, path: str, data: Any = None, **kwargs: Any) -> Answer:
        """PATCH a JSON body."""
        return self.call("PATCH", path, data, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        """DELETE."""
        return self.call("DELETE", path, **kwargs)

    def upload(self, temp_path: str, max_tries: int = 3) -> tuple[Answer, Any]:
        """wx.uploadFile a photo to ``POST /files``, resent while answers are lost; the answer and
        ``JSON.parse(res.data)``."""
        tries: list[int | Literal["lost"]] = []
        while len(tries) < max_tries:
            with self._lock:
                access = self.tokens["access_token"] if self.tokens else ""
            result = self.wx.uploadFile(
                f"{self.api}/files", temp_path, name="file", header={"Authorization": f"Bearer {access}"}
            )
            if isinstance(result, RequestFail):
                tries.append("lost")
                continue
            tries.append(result.statusCode)
            assert isinstance(result.data, str)  # what WeChat gives; the page parses it
            return Answer(result.statusCode, result.data, result.header, tries), json.loads(result.data)
        raise NoAnswer(f"upload: {tries}")

    def at_once(self, calls: Sequence[Callable[[Phone], Answer]]) -> list[Answer]:
        """Run ``calls`` at once (one thread each, released together), as a page's onShow firing several
        requests; refreshes they need meet and go together too."""
        barrier = threading.Barrier(len(calls))
        self._refresh_barrier = threading.Barrier(len(calls))
        results: list[Answer | None] = [None] * len(calls)
        errors: list[BaseException] = []

        def run(index: int, call: Callable[[Phone], Answer]) -> None:
            try:
                barrier.wait(timeout=30)
                results[index] = call(self)
            except BaseException as exc:  # surfaced in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            self._refresh_barrier = None
        assert not any(t.is_alive() for t in threads), "a call hung"
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]


# --- the check-in page (pages/checkin/index) ---------------------------------------------------------------


def token_from_launch(query: dict[str, str]) -> str:
    """onLoad of the check-in page: the code from WeChat's scanner (``q`` for a link, ``scene`` for a
    mini-program code), decoded as the README's table says."""
    if "q" in query:
        return decode_uri_component(query["q"])
    return decode_uri_component(query["scene"])


def token_from_scan(result: dict[str, str]) -> str:
    """After ``wx.scanCode``: the ``scene`` of ``path`` for a mini-program code, else ``result``."""
    if result.get("path"):
        query = parse_qs(urlsplit(result["path"]).query)
        return query["scene"][0]  # parse_qs decodes once, as decodeURIComponent would
    return result["result"]


def location_fields(fix: dict[str, Any], coord_type: str) -> dict[str, Any]:
    """The location part of a check-in body from a wx.getLocation answer (nothing when it failed)."""
    if fix.get("errMsg") != "getLocation:ok":
        return {}
    return {
        "lat": fix["latitude"],
        "lng": fix["longitude"],
        "accuracy": fix["accuracy"],
        "coord_type": coord_type,
    }


def new_nonce() -> str:
    """A nonce per scan, kept by the page so a resend carries the same one."""
    return f"scan-{uuid.uuid4().hex[:24]}"
