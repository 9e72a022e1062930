"""WeChat mini program API: client, errors, token caches (the fake lives in ``server.wechat.fake``)."""

from server.wechat.cache import MemoryTokenCache, RedisTokenCache, TokenCache
from server.wechat.client import Code2Session, PhoneInfo, SecCheckResult, WeChatClient
from server.wechat.errors import (
    WeChatBusy,
    WeChatCodeInvalid,
    WeChatCredentialError,
    WeChatError,
    WeChatInvalidData,
    WeChatInvalidRecipient,
    WeChatInvalidTemplate,
    WeChatNetworkError,
    WeChatNoAnswer,
    WeChatRateLimited,
    WeChatTokenInvalid,
    WeChatUserBlocked,
    WeChatUserRefused,
    error_for,
)

__all__ = [
    "Code2Session",
    "MemoryTokenCache",
    "PhoneInfo",
    "RedisTokenCache",
    "SecCheckResult",
    "TokenCache",
    "WeChatBusy",
    "WeChatClient",
    "WeChatCodeInvalid",
    "WeChatCredentialError",
    "WeChatError",
    "WeChatInvalidData",
    "WeChatInvalidRecipient",
    "WeChatInvalidTemplate",
    "WeChatNetworkError",
    "WeChatNoAnswer",
    "WeChatRateLimited",
    "WeChatTokenInvalid",
    "WeChatUserBlocked",
    "WeChatUserRefused",
    "error_for",
]
