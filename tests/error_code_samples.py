"""Small functions whose raise sites tests/test_openapi.py reads with server/error_codes.py's Reader."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from server.errors import Conflict, Forbidden, NotFound, Unauthorized


class SampleRefused(Exception):
    """A refusal that carries its code up to a raise."""

    CARRIES_ERROR_CODE: ClassVar[bool] = True

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class SampleResult:
    """A result that may carry a refusal's code."""

    CARRIES_ERROR_CODE: ClassVar[bool] = True

    status: str
    code: str | None = None


def _require(ok: bool, code: str) -> None:
    if not ok:
        raise Conflict(code)


def _find(found: bool) -> None:
    if not found:
        raise NotFound("SAMPLE_GONE")


def through_a_helper(ok: bool) -> None:
    """A code passed to a helper that raises it."""
    _find(ok)
    _require(ok, "SAMPLE_TAKEN")


def _empty_plan() -> None:
    raise SampleRefused("SAMPLE_EMPTY")


def _post(plan: Callable[[], None]) -> SampleResult:
    try:
        plan()
    except SampleRefused as refusal:
        return SampleResult("refused", code=refusal.code)
    return SampleResult("done")


def refused_by_a_callback() -> None:
    """A code raised in a plan passed as a callback, carried back in a result."""
    result = _post(_empty_plan)
    if result.status == "refused":
        raise Conflict(result.code or "CONFLICT")


def from_a_value(codes: dict[str, str], key: str) -> None:
    """A code looked up at run time: its status stays open."""
    if not key:
        raise Forbidden()
    raise Conflict(codes[key])


def _logged_in(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not args:
            raise Unauthorized("SAMPLE_LOGIN")
        return view(*args, **kwargs)

    return wrapper


@_logged_in
def decorated(found: bool) -> None:
    """A view under a decorator: the decorator's codes and the view's."""
    _find(found)
