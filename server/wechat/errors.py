"""WeChat API errors, one class per way a caller reacts to them."""

from __future__ import annotations

from typing import ClassVar


class WeChatError(Exception):
    """A WeChat API call failed; ``permanent`` errors must not be retried."""

    permanent: ClassVar[bool] = True
    codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later."""
        return not self.permanent

    def __str__(self) -> str:
        return f"WeChat error {self.errcode}: {self.errmsg}"


class WeChatCodeInvalid(WeChatError):
    """A login or phone code is invalid or already used."""

    codes = frozenset({40029, 40163})


class WeChatUserBlocked(WeChatCodeInvalid):
    """WeChat's risk control blocks this user (40226): a fresh wx.login code would fail the same way."""

    codes = frozenset({40226})


class WeChatTokenInvalid(WeChatError):
    """The access token is invalid or expired; refresh it and call again."""

    permanent = False
    codes = frozenset({40001, 42001, 40014})


class WeChatCredentialError(WeChatError):
    """The appid/secret are wrong or missing, or this server's IP is not whitelisted."""

    codes = frozenset({40013, 40125, 40164, 41002, 41004})


class WeChatUserRefused(WeChatError):
    """The user has not accepted (or has rejected) this subscribe message template."""

    codes = frozenset({43101})


class WeChatInvalidRecipient(WeChatError):
    """The openid is not a user of this mini program."""

    codes = frozenset({40003})


class WeChatInvalidTemplate(WeChatError):
    """The subscribe message template id is unknown."""

    codes = frozenset({40037})


class WeChatInvalidData(WeChatError):
    """The request arguments were rejected (template data, page, scene, JSON)."""

    codes = frozenset({47003, 40097, 41030, 47001})


class WeChatRateLimited(WeChatError):
    """A daily quota or call-frequency limit was hit."""

    permanent = False
    codes = frozenset({45009, 45011})


class WeChatBusy(WeChatError):
    """WeChat answered "system busy" (-1)."""

    permanent = False
    codes = frozenset({-1})


class WeChatNetworkError(WeChatError):
    """No usable answer: timeout, connection error, HTTP 5xx or a body that is not JSON."""

    permanent = False

    def __init__(self, errmsg: str) -> None:
        super().__init__(None, errmsg)
        self.args = (errmsg,)  # so that pickling rebuilds it with this signature

    def __str__(self) -> str:
        return f"WeChat network error: {self.errmsg}"


class WeChatNoAnswer(WeChatNetworkError):
    """The request went out but no answer came within the read timeout: it may have taken effect.

    Retrying is safe for reads and for the token; a subscribe message may already have reached the user.
    """


_BY_CODE: dict[int, type[WeChatError]] = {
    code: cls
    for cls in (
        WeChatCodeInvalid,
        WeChatUserBlocked,
        WeChatTokenInvalid,
        WeChatCredentialError,
        WeChatUserRefused,
        WeChatInvalidRecipient,
        WeChatInvalidTemplate,
        WeChatInvalidData,
        WeChatRateLimited,
        WeChatBusy,
    )
    for code in cls.codes
}


def error_for(errcode: int, errmsg: str) -> WeChatError:
    """The exception for a WeChat ``errcode`` answer (a plain, permanent WeChatError if unknown)."""
    return _BY_CODE.get(errcode, WeChatError)(errcode, errmsg)
