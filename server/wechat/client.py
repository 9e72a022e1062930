"""A small client for the WeChat mini program server API, over ``requests``."""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests

from server.wechat.cache import TokenCache
from server.wechat.errors import (
    WeChatCodeInvalid,
    WeChatError,
    WeChatInvalidData,
    WeChatNetworkError,
    WeChatNoAnswer,
    WeChatRateLimited,
    WeChatTokenInvalid,
    error_for,
)

log = logging.getLogger(__name__)

# Letters, digits and the punctuation WeChat documents for getwxacodeunlimit's scene.
_SCENE_RE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
# Query parameters that must never reach a log line or an exception message.
_SECRET_PARAM_RE = re.compile(r"((?:secret|js_code|access_token|code)=)[^&\s'\"]*")


@dataclass(frozen=True)
class Code2Session:
    """The result of a mini program login (``wx.login`` code exchanged server-side)."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None


@dataclass(frozen=True)
class PhoneInfo:
    """A user's phone number as given by ``getuserphonenumber``."""

    phone_number: str
    pure_phone_number: str
    country_code: str


@dataclass(frozen=True)
class SecCheckResult:
    """The verdict of ``msg_sec_check`` v2: ``suggest`` is "pass", "review" or "risky"."""

    suggest: str
    label: int | None  # the category WeChat saw (100 normal, 20001 politics, ...); None when it sent none
    trace_id: str | None


class WeChatClient:
    """Calls the WeChat API with one app's credentials; the access token lives in ``token_cache``."""

    def __init__(
        self,
        api_base: str,
        appid: str,
        secret: str,
        token_cache: TokenCache,
        timeout: tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
        token_margin_seconds: int = 300,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.appid = appid
        self._secret = secret
        self._cache = token_cache
        self._timeout = timeout
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._margin = token_margin_seconds
        self._token_key = f"access_token:{appid}"
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WeChatClient(api_base={self.api_base!r}, appid={self.appid!r})"

    def __enter__(self) -> WeChatClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    # -- API calls -------------------------------------------------------------------------------

    def code2session(self, js_code: str) -> Code2Session:
        """Exchange a ``wx.login`` code for the user's openid, session_key and unionid."""
        if not js_code:
            raise WeChatCodeInvalid(40029, "empty js_code (not sent)")
        params = {
            "appid": self.appid,
            "secret": self._secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        body = self._json(self._send("GET", "/sns/jscode2session", params=params))
        openid, session_key = body.get("openid"), body.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str):
            raise WeChatNetworkError("jscode2session answer without openid/session_key")
        unionid = body.get("unionid")
        return Code2Session(openid, session_key, unionid if isinstance(unionid, str) else None)

    def access_token(self, force_refresh: bool = False) -> str:
        """The app's access token from the cache, or a new one from ``stable_token``."""
        if not force_refresh:
            cached = self._cache.get(self._token_key)
            if cached:
                return cached
        with self._token_lock:
            if not force_refresh:
                # Another thread may have fetched it while this one waited for the lock.
                cached = self._cache.get(self._token_key)
                if cached:
                    return cached
            try:
                body = self._json(
                    self._send(
                        "POST",
                        "/cgi-bin/stable_token",
                        body={
                            "grant_type": "client_credential",
                            "appid": self.appid,
                            "secret": self._secret,
                            "force_refresh": force_refresh,
                        },
                    )
                )
            except WeChatNoAnswer as exc:  # fetching a token has no effect worth knowing about
                raise WeChatNetworkError(exc.errmsg) from None
            token, expires_in = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise WeChatNetworkError("stable_token answer without access_token/expires_in")
            self._cache.set(self._token_key, token, self._token_ttl(expires_in))
            log.info(
                "wechat access token fetched (force_refresh=%s, expires_in=%s)", force_refresh, expires_in
            )
            return token

    def get_phone_number(self, code: str) -> PhoneInfo:
        """The phone number behind a ``getPhoneNumber`` button code."""
        body = self._json(self._token_post("/wxa/business/getuserphonenumber", {"code": code}))
        info = body.get("phone_info")
        if not isinstance(info, dict):
            raise WeChatNetworkError("getuserphonenumber answer without phone_info")
        try:
            return PhoneInfo(
                phone_number=str(info["phoneNumber"]),
                pure_phone_number=str(info["purePhoneNumber"]),
                country_code=str(info["countryCode"]),
            )
        except KeyError as exc:
            raise WeChatNetworkError(f"phone_info without {exc.args[0]}") from None

    def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        page: str | None = None,
        miniprogram_state: str = "formal",
    ) -> None:
        """Send a subscribe message; ``data`` maps template keys (``thing1``...) to values."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": miniprogram_state,
            "lang": "zh_CN",
        }
        if page is not None:
            payload["page"] = page
        self._json(self._token_post("/cgi-bin/message/subscribe/send", payload))

    def msg_sec_check(self, content: str, openid: str, scene: int = 2) -> SecCheckResult:
        """Check user text (v2); act on ``suggest``, since the errcode is 0 for risky text too."""
        body = self._json(
            self._token_post(
                "/wxa/msg_sec_check", {"content": content, "version": 2, "scene": scene, "openid": openid}
            )
        )
        result = body.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("suggest"), str):
            raise WeChatNetworkError("msg_sec_check answer without result.suggest")
        trace_id, label = body.get("trace_id"), result.get("label")
        return SecCheckResult(
            suggest=result["suggest"],
            # ``suggest`` is the verdict; a label that is not a whole number is left out, never a 500.
            label=label if isinstance(label, int) and not isinstance(label, bool) else None,
            trace_id=trace_id if isinstance(trace_id, str) else None,
        )

    def get_wxacode_unlimit(
        self,
        scene: str,
        page: str | None = None,
        width: int = 430,
        check_path: bool = False,
        env_version: str = "release",
    ) -> bytes:
        """The image bytes of a mini program code carrying ``scene`` (at most 32 characters)."""
        if not _SCENE_RE.fullmatch(scene):
            raise WeChatInvalidData(40097, "scene must be 1-32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]")
        payload: dict[str, Any] = {
            "scene": scene,
            "width": width,
            "check_path": check_path,
            "env_version": env_version,
        }
        if page is not None:
            payload["page"] = page
        resp = self._token_post("/wxa/getwxacodeunlimit", payload)
        if resp.headers.get("Content-Type", "").startswith("image/"):
            return resp.content
        self._json(resp)  # raises for an errcode answer
        raise WeChatNetworkError("getwxacodeunlimit answered JSON without an error")

    # -- plumbing --------------------------------------------------------------------------------

    def _token_ttl(self, expires_in: int) -> int:
        ttl = expires_in - self._margin
        if ttl >= 60:
            return ttl
        # A token near its end (stable_token returns the remaining lifetime): never cache it past it.
        return max(1, min(60, expires_in))

    def _token_post(self, path: str, payload: dict[str, Any]) -> requests.Response:
        """POST with the access token, refreshing it once if WeChat rejects it."""
        token = self.access_token()
        resp = self._send("POST", path, params={"access_token": token}, body=payload)
        if not _is_token_rejection(resp):
            return resp
        log.warning("wechat rejected the access token on %s; refreshing once", path)
        fresh = self._cache.get(self._token_key)
        if not fresh or fresh == token:
            fresh = self.access_token(force_refresh=True)
        return self._send("POST", path, params={"access_token": fresh}, body=payload)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        headers: dict[str, str] = {}
        data: bytes | None = None
        if body is not None:
            # WeChat shows "\uXXXX" escapes literally in some places: send real UTF-8.
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            resp = self._session.request(
                method, self.api_base + path, params=params, data=data, headers=headers, timeout=self._timeout
            )
        except requests.ReadTimeout:  # sent, but no answer: it may have taken effect
            raise WeChatNoAnswer(f"{method} {path}: timed out waiting for the answer") from None
        except requests.Timeout:  # could not connect: nothing was sent
            raise WeChatNetworkError(f"{method} {path}: timed out") from None
        except requests.RequestException as exc:
            # Not chained: the exception's text carries the URL, with the secret in the query.
            raise WeChatNetworkError(f"{method} {path}: {type(exc).__name__}: {_redact(str(exc))}") from None
        if resp.status_code >= 500:
            raise WeChatNetworkError(f"{method} {path}: HTTP {resp.status_code}")
        if resp.status_code == 429:
            raise WeChatRateLimited(None, f"{method} {path}: HTTP 429")
        if resp.status_code != 200:
            raise WeChatError(None, f"{method} {path}: HTTP {resp.status_code}")
        return resp

    @staticmethod
    def _json(resp: requests.Response) -> dict[str, Any]:
        """The JSON body, or the WeChatError for its errcode."""
        try:
            body = resp.json()
        except ValueError:
            raise WeChatNetworkError(f"{resp.request.method} {_path(resp)}: answer is not JSON") from None
        if not isinstance(body, dict):
            raise WeChatNetworkError(f"{resp.request.method} {_path(resp)}: answer is not a JSON object")
        errcode = body.get("errcode", 0)
        try:
            errcode = int(errcode)
        except (TypeError, ValueError):
            raise WeChatNetworkError(f"{_path(resp)}: errcode {errcode!r} is not a number") from None
        if errcode != 0:
            error = error_for(errcode, str(body.get("errmsg", "")))
            log.warning("wechat %s answered errcode %s: %s", _path(resp), errcode, error.errmsg)
            raise error
        return body


def _is_token_rejection(resp: requests.Response) -> bool:
    if resp.headers.get("Content-Type", "").startswith("image/"):
        return False
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("errcode") in WeChatTokenInvalid.codes


def _path(resp: requests.Response) -> str:
    return (resp.request.path_url or "").split("?", 1)[0]


def _redact(text: str) -> str:
    return _SECRET_PARAM_RE.sub(r"\1***", text)
