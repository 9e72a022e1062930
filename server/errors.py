"""The error envelope of API.md: a stable code, a Chinese (or English) message and details."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from flask import Flask, Response, jsonify, request
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# code -> (Chinese message, English message). Codes are the contract; messages may be reworded.
MESSAGES: dict[str, tuple[str, str]] = {
    "BAD_REQUEST": ("请求格式不正确", "The request is malformed"),
    "VALIDATION_ERROR": ("提交的数据有误", "Some fields are invalid"),
    "UNAUTHORIZED": ("请先登录", "Please log in"),
    "TOKEN_EXPIRED_LOGIN": ("登录已过期，请重新登录", "Your session has expired, please log in again"),
    "TOKEN_INVALID_LOGIN": ("登录凭证无效，请重新登录", "The access token is invalid, please log in again"),
    "REFRESH_TOKEN_INVALID": (
        "刷新凭证无效，请重新登录",
        "The refresh token is invalid, please log in again",
    ),
    "REFRESH_TOKEN_REUSED": (
        "刷新凭证已被使用，为安全起见已退出所有设备，请重新登录",
        "The refresh token was already used; all sessions of this login were revoked, please log in again",
    ),
    "FORBIDDEN": ("没有权限执行此操作", "You are not allowed to do this"),
    "NOT_FOUND": ("请求的资源不存在", "Not found"),
    "METHOD_NOT_ALLOWED": ("不支持该请求方法", "Method not allowed"),
    "CONFLICT": ("与当前状态冲突", "Conflicts with the current state"),
    "PAYLOAD_TOO_LARGE": ("提交的内容过大", "The request body is too large"),
    "UNSUPPORTED_MEDIA_TYPE": ("请以 JSON 格式提交", "Send the body as JSON"),
    "RATE_LIMITED": ("操作过于频繁，请稍后再试", "Too many requests, please try again later"),
    "INTERNAL_ERROR": ("服务器开小差了，请稍后再试", "Something went wrong on our side, please try again"),
    "SERVICE_UNAVAILABLE": ("服务暂时不可用，请稍后再试", "The service is temporarily unavailable"),
    "WECHAT_CODE_INVALID": (
        "微信登录凭证无效或已使用，请重新进入小程序",
        "The WeChat login code is invalid or used",
    ),
    "WECHAT_PHONE_CODE_INVALID": ("手机号授权码无效或已使用", "The WeChat phone code is invalid or used"),
    "WECHAT_USER_BLOCKED": (
        "微信暂时限制了您的账号登录小程序，请在微信中完成安全验证后再试，或到社区服务站办理",
        "WeChat's risk control blocks this account for now: verify it in WeChat, or ask at the community",
    ),
    "WECHAT_UNAVAILABLE": (
        "微信服务暂时不可用，请稍后再试",
        "WeChat is temporarily unavailable, please retry",
    ),
    "INVALID_CREDENTIALS": ("用户名或密码错误", "Wrong username or password"),
    "ACCOUNT_DISABLED": ("该账号已停用", "This account is disabled"),
    "ACCOUNT_LOCKED": ("密码错误次数过多，账号暂时锁定", "Too many failed attempts; the account is locked"),
    "ORG_NOT_FOUND": ("组织不存在", "No such org unit"),
    "ORG_CODE_TAKEN": ("组织编码已存在", "That org code is taken"),
    "ORG_PARENT_INVALID": ("上级组织层级不正确", "The parent org unit is of the wrong level"),
    "NOT_A_COMMUNITY": ("请选择一个社区", "Choose a community"),
    "USERNAME_TAKEN": ("用户名已存在", "That username is taken"),
    "PARTY_REPORT_PENDING": ("您已有待审核的党员报到申请", "You already have a pending party report"),
    "ALREADY_PARTY_MEMBER": ("您已是该社区的报到党员", "You are already a reported party member there"),
    "PARTY_REPORT_NOT_FOUND": ("报到申请不存在", "No such party report"),
    "PARTY_REPORT_DECIDED": ("该申请已处理", "This report was already decided"),
    "REASON_REQUIRED": ("请填写原因", "A reason is required"),
    "USER_NOT_FOUND": ("用户不存在", "No such user"),
    "CSRF_INVALID": ("页面已过期，请刷新后重试", "The form has expired; reload the page and try again"),
    "VOLUNTEER_ELSEWHERE": ("该居民已是其他社区的志愿者", "This resident volunteers for another community"),
    "VOLUNTEER_NOT_FOUND": ("该居民不是本社区的志愿者", "This resident is not a volunteer here"),
}


def register_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Let a feature package add its codes; a code is defined once."""
    for code, texts in messages.items():
        if code in MESSAGES and MESSAGES[code] != texts:
            raise RuntimeError(f"error code {code} defined twice")
        MESSAGES[code] = texts


class AppError(Exception):
    """An error a client can cause; rendered as the JSON envelope with a stable code."""

    status: ClassVar[int] = 400

    def __init__(
        self,
        code: str,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.details = details or {}
        self.headers = headers or {}
        if status is not None:
            self.status_code = status
        else:
            self.status_code = self.status


class NotFound(AppError):
    """A resource that does not exist (or that the caller may not know exists)."""

    status = 404


class Conflict(AppError):
    """The request conflicts with the current state."""

    status = 409


class Forbidden(AppError):
    """The caller is known but not allowed."""

    status = 403

    def __init__(self, code: str = "FORBIDDEN", details: dict[str, Any] | None = None) -> None:
        super().__init__(code, details=details)


class Unauthorized(AppError):
    """No valid credentials; the client should log in again."""

    status = 401


HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def preferred_language() -> str:
    """'en' when the client asks for English first, else 'zh'."""
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"], default="zh")
    return "en" if best and best.startswith("en") else "zh"


def message_for(code: str) -> str:
    """The human message for a code in the request's language."""
    zh, en = MESSAGES.get(code, (code, code))
    return en if preferred_language() == "en" else zh


def error_response(code: str, status: int, details: dict[str, Any] | None = None) -> Response:
    """Build the envelope response."""
    response = jsonify({"error": {"code": code, "message": message_for(code), "details": details or {}}})
    response.status_code = status
    return response


def _handle_app_error(exc: AppError) -> Response:
    response = error_response(exc.code, exc.status_code, exc.details)
    response.headers.update(exc.headers)
    return response


def _handle_http_exception(exc: HTTPException) -> Response:
    original = getattr(exc, "original_exception", None)  # an error raised after the view (the commit)
    if original is not None and database_unreachable(original):
        return _database_unavailable(original)
    status = exc.code or 500
    code = HTTP_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    details: dict[str, Any] = {}
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and "messages" in data:
        # webargs keys messages by location (json, query, ...); clients want one flat field map
        fields: dict[str, Any] = {}
        for location_messages in data["messages"].values():
            fields.update(
                location_messages if isinstance(location_messages, dict) else {"_body": location_messages}
            )
        details = {"fields": fields}
    response = error_response(code, status, details)
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _handle_unstorable_value(exc: DataError) -> Response:
    """A value the database cannot hold that validation let through (a number beyond an `integer`
    column, a NUL character in text, a date out of range): the client's input, so 422, never a 500."""
    log.warning(
        "database refused a value on %s %s: %s", request.method, request.path, type(exc.orig).__name__
    )
    return error_response("VALIDATION_ERROR", 422, {"reason": "value_not_storable"})


# SQLSTATEs of a server going away: admin_shutdown, crash_shutdown, cannot_connect_now (class 08 too).
_UNREACHABLE_SQLSTATES = ("57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, the connection lost).

    A connection that failed or broke: SQLAlchemy saw a disconnect, or the driver's OperationalError has no
    SQLSTATE (raised by the client, e.g. connection refused) or a connection one. Errors PostgreSQL itself
    answered (deadlock, serialization, lock timeout: OperationalErrors too) are not.
    """
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", "")  # psycopg's; other drivers have none and are not judged
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNREACHABLE_SQLSTATES


def _database_unavailable(exc: BaseException) -> Response:
    """503, not 500: the request may succeed once the database is back (the pool reconnects)."""
    reason = (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]
    log.warning("database unreachable on %s %s: %s", request.method, request.path, reason)
    return error_response("SERVICE_UNAVAILABLE", 503, {"database": "unavailable"})


def _handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _handle_http_exception(exc)
    if database_unreachable(exc):
        return _database_unavailable(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response("INTERNAL_ERROR", 500)


def init_app(app: Flask) -> None:
    """Render every error as the JSON envelope (after flask-smorest, to replace its handler)."""
    app.register_error_handler(AppError, _handle_app_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DataError, _handle_unstorable_value)
    app.register_error_handler(Exception, _handle_unexpected)
