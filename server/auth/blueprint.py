"""Login routes: WeChat code, staff password, refresh, logout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint

from server.auth import services
from server.auth.policy import auth_required, current_principal
from server.auth.schemas import RefreshSchema, StaffLoginSchema, TokenPairSchema, WeChatLoginSchema
from server.extensions import client_address, limiter
from server.users.me import me_payload

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Login and tokens")


def _body_key(field: str) -> str:
    body = request.get_json(silent=True)
    value = body.get(field) if isinstance(body, dict) else None
    return f"{field}:{value if isinstance(value, str) else '-'}"


def _per_address() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"])


def _per_account() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _staff_username_key() -> str:
    """The username and the client's address: a budget an outsider elsewhere cannot spend for the owner."""
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return f"username:{value.strip() if isinstance(value, str) else '-'}@{client_address()}"


def staff_login_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """One budget per (username, address) and per address for all staff password logins: this API's and
    the console's. Guesses spread over many addresses meet the unlock code after 20 failures instead."""
    per_address = limiter.shared_limit(_per_address, scope="staff-login-address", methods=["POST"])
    per_username = limiter.shared_limit(
        _per_account, scope="staff-login-username", key_func=_staff_username_key, methods=["POST"]
    )
    return per_address(per_username(view))


def _result(result: services.LoginResult) -> dict[str, Any]:
    return {
        "access_token": result.access_token,
        "refresh_token": result.refresh_token,
        "expires_in": result.expires_in,
        "token_type": "Bearer",
        "user": me_payload(result.kind, result.user),
    }


# Per address generously (a whole venue shares one Wi-Fi address), per code or username strictly.
@blp.route("/wechat", methods=["POST"])
@limiter.limit(_per_address)
@limiter.limit(_per_account, key_func=lambda: _body_key("code"))
@blp.arguments(WeChatLoginSchema)
@blp.response(200, TokenPairSchema)
def wechat_login(body: dict[str, str]) -> dict[str, Any]:
    """Log in with the code of wx.login(); the user is made on first login."""
    return _result(services.login_with_wechat(body["code"]))


@blp.route("/staff", methods=["POST"])
@staff_login_limits
@blp.arguments(StaffLoginSchema)
@blp.response(200, TokenPairSchema)
def staff_login(body: dict[str, str]) -> dict[str, Any]:
    """Log in a console account by username and password (and, after UNLOCK_CODE_REQUIRED, an admin's
    one-time unlock code)."""
    return _result(services.login_staff(body["username"], body["password"], body.get("unlock_code")))


@blp.route("/refresh", methods=["POST"])
@limiter.limit(_per_address)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
def refresh(body: dict[str, str]) -> dict[str, Any]:
    """Spend a refresh token for a new pair. The same token again within REFRESH_REUSE_GRACE_SECONDS (default
    30) answers the same pair; later, reusing a spent one revokes its whole login."""
    return _result(services.refresh_login(body["refresh_token"]))


@blp.route("/logout", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(204)
def logout(body: dict[str, str]) -> None:
    """Revoke the login this refresh token belongs to."""
    services.logout(body["refresh_token"])


@blp.route("/logout-everywhere", methods=["POST"])
@auth_required(done_when_stale=True)
@blp.response(204)
def logout_everywhere() -> None:
    """End every login of the caller: all access tokens at once (a new token version), every refresh
    token, and for staff every console session. Sent again with the now-old token, it answers 204 again
    and does nothing more (a lost answer resent); that token still opens nothing else."""
    services.logout_everywhere(current_principal())
