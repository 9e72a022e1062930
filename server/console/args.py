"""Numbers of a console page's query string and forms, in the API's ranges: a bad one is a 422 page."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

from flask import request

from server.errors import AppError
from server.schemas import MAX_INT

ID = re.compile(r"[0-9]{1,10}")


def _out_of_range(name: str) -> AppError:
    return AppError("VALIDATION_ERROR", status=422, details={"fields": {name: ["out of range"]}})


def int_arg(name: str) -> int | None:
    """An optional number of the query string (an id to filter by): None when absent or not a number."""
    value = request.args.get(name, type=int)
    if value is not None and not -MAX_INT <= value <= MAX_INT:
        raise _out_of_range(name)
    return value


def page_arg() -> int:
    """The ``page`` query argument: at least 1, 1 when it is not a number, at most what the API takes."""
    return max(1, int_arg("page") or 1)


@dataclass(frozen=True)
class QueueArgs:
    """A queue page's filters: the status ("" for all), the community (None for all) and the page."""

    status: str
    community_id: int | None
    page: int


def queue_args(statuses: Container[str], default: str) -> QueueArgs:
    """The filters of a queue page (党员报到, 社区迁移, 兑换审核, 待确认积分 …): ``?status=`` (``default``
    when absent, all when not one of ``statuses``), ``?community=`` and ``?page=``."""
    status = request.args.get("status", default)
    return QueueArgs(status if status in statuses else "", int_arg("community"), page_arg())


def ticked_ids(name: str = "ids") -> list[int]:
    """The ids ticked in a form, each once, in the order given; one that is no id of ours is a 422."""
    ids: list[int] = []
    for raw in request.form.getlist(name):
        if not ID.fullmatch(raw) or not 1 <= int(raw) <= MAX_INT:
            raise _out_of_range(name)
        if int(raw) not in ids:
            ids.append(int(raw))
    return ids
