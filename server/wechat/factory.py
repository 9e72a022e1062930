"""One WeChat client per app, its token cache in Redis when configured, else in the database."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from server.errors import AppError
from server.kvstore import DatabaseTokenCache
from server.wechat.cache import RedisTokenCache, TokenCache
from server.wechat.client import WeChatClient
from server.wechat.errors import WeChatError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Build the client from WECHAT_* settings."""
    redis = app.extensions.get("linli_redis")
    cache: TokenCache = (
        RedisTokenCache(redis, app.config["REDIS_PREFIX"]) if redis is not None else DatabaseTokenCache()
    )
    timeout = float(app.config["WECHAT_TIMEOUT_SECONDS"])
    app.extensions["linli_wechat"] = WeChatClient(
        api_base=app.config["WECHAT_API_BASE"],
        appid=app.config["WECHAT_APPID"],
        secret=app.config["WECHAT_SECRET"],
        token_cache=cache,
        timeout=(min(3.05, timeout), timeout),
    )


def wechat_client() -> WeChatClient:
    """The current app's WeChat client."""
    client: WeChatClient = current_app.extensions["linli_wechat"]
    return client


def wechat_unavailable(exc: WeChatError) -> AppError:
    """The 503 a client sees when WeChat fails on our side (network, busy, credentials)."""
    log.warning("wechat call failed: errcode=%s errmsg=%s", exc.errcode, exc.errmsg)
    return AppError("WECHAT_UNAVAILABLE", status=503, details={"errcode": exc.errcode})
