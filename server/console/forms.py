"""Console forms read by the API's own schemas: form text in; typed values and Chinese field messages out."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, validate

from server import clock
from server.errors import AppError
from server.schemas import IN_SERVICE_TIME

INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what a datetime-local input shows and sends
WHOLE = re.compile(r"[+-]?[0-9]+")
UNNAMED = "此项"  # a field the page gave no label


def local_input(moment: datetime | None) -> str:
    """A stored time as a datetime-local input's value, in the server's zone (blank for none)."""
    return clock.local(moment).strftime(INPUT_FORMAT) if moment else ""


def local_time(text: str) -> datetime | None:
    """A datetime-local value read in the server's zone, in the API's range (blank: None; bad: ValueError)."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("时间格式不正确") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.SERVER_ZONE)
    try:
        return IN_SERVICE_TIME(moment)
    except ValidationError:
        raise ValueError(_range_text(IN_SERVICE_TIME, UNNAMED, fields.AwareDateTime())) from None


def load_form(
    schema: Schema,
    form: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    messages: Mapping[str, str] | None = None,
    required: Collection[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate a form by the API's own schema: the values that passed, a Chinese message per wrong field."""
    # Text is read as the field's type: stripped strings, whole numbers, a datetime-local in the server's
    # zone, a checkbox ``on`` or absent. A blank field is None where the API takes None, a complaint where it
    # is required (or named in ``required``), else left out so the API's default applies. ``labels`` name the
    # fields in the messages; ``messages`` replace every complaint about a field (``请选择社区``); ``extra``
    # holds values the page parsed itself (opening hours), handed to the schema as they are.
    labels = labels or {}
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, field in _form_fields(schema):
        label = labels.get(key, UNNAMED)
        if extra is not None and key in extra:
            payload[key] = extra[key]
        elif isinstance(field, fields.Boolean):
            payload[key] = form.get(key) == "on"
        elif key in form:
            _read_text(field, key, form[key].strip(), label, key in required, payload, errors)
    values: dict[str, Any] = {}
    try:
        values = schema.load(payload)
    except ValidationError as exc:
        values = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        complaints = exc.messages if isinstance(exc.messages, dict) else {}
        known = dict(_form_fields(schema))
        for key in complaints:
            found = known.get(key)
            text = _explain(found, labels.get(key, UNNAMED), payload.get(key, missing)) if found else None
            errors.setdefault(key, text or "取值不正确")
    for key in errors:
        errors[key] = (messages or {}).get(key, errors[key])
    return values, errors


def refusal(error: AppError | None, messages: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """A refusal's messages beside the fields it names, and its own status (403, 409, 422 …) for the page."""
    if error is None:
        return {}, 422
    named = (error.details or {}).get("fields") or {}
    return {name: messages.get(name, "取值不正确") for name in named}, error.status_code


def _form_fields(schema: Schema) -> list[tuple[str, fields.Field[Any]]]:
    """The fields a form can fill, by the name the API reads (``data_key``)."""
    return [(field.data_key or name, field) for name, field in schema.load_fields.items()]


def _read_text(
    field: fields.Field[Any],
    key: str,
    text: str,
    label: str,
    must: bool,
    payload: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """One field's text into the payload as the schema takes it, or its complaint into ``errors``."""
    if isinstance(field, fields.String):
        payload[key] = None if not text and field.allow_none else text
    elif not text:
        if field.allow_none:
            payload[key] = None
        elif field.required or must:
            errors[key] = f"请填写{label}"
    elif isinstance(field, fields.Integer):
        number = _whole(text)
        if number is None:
            errors[key] = "请输入整数"
        else:
            payload[key] = number
    elif isinstance(field, fields.DateTime):
        try:
            local_time(text)
        except ValueError as exc:
            errors[key] = str(exc)
        else:
            payload[key] = text  # read by the schema itself, in its zone, exactly as the API reads it
    else:
        payload[key] = text  # numbers with a fraction, and the rest: the schema reads the text


def _whole(text: str) -> int | None:
    """A whole number typed in ASCII digits, or None."""
    if not WHOLE.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than int() reads
        return None


def _explain(field: fields.Field[Any], label: str, value: Any) -> str:
    """Why the schema refused a field's value, as staff read it."""
    if value is missing or value is None:
        return f"请填写{label}"
    try:
        typed = field._deserialize(value, None, None)
    except ValidationError:
        if isinstance(field, fields.Integer):
            return "请输入整数"
        if isinstance(field, fields.Number):
            return "请输入数字"
        if isinstance(field, fields.DateTime):
            return "时间格式不正确"
        return f"{label}不正确"
    for validator in field.validators:
        try:
            validator(typed)
        except ValidationError:
            return _validator_text(validator, label, field)
    return f"{label}不正确"


def _validator_text(validator: Any, label: str, field: fields.Field[Any]) -> str:
    """The complaint of one of marshmallow's validators."""
    if isinstance(validator, validate.Range):
        return _range_text(validator, label, field)
    if isinstance(validator, validate.Length):
        if validator.max is None:
            return f"请填写{label}"
        if validator.min:
            return f"请填写{label}（最多 {validator.max} 字）"
        return f"{label}最多 {validator.max} 字"
    if isinstance(validator, validate.Regexp):
        return f"{label}格式不正确"
    return f"{label}不正确"


def _range_text(bounds: validate.Range, label: str, field: fields.Field[Any]) -> str:
    """``所需积分应为 1–1000000 的整数``, ``纬度应在 -90–90 之间``, ``时间应在 2000 年至 2099 年之间``."""
    low, high = bounds.min, bounds.max
    if isinstance(low, date) and isinstance(high, date):
        if isinstance(high, datetime):  # the range ends on the first instant of the year after the last
            high = high - timedelta(microseconds=1)
        return f"时间应在 {low.year} 年至 {high.year} 年之间"
    if low is None:
        return f"{label}应不大于 {high}"
    if high is None:
        return f"{label}应不小于 {low}"
    if isinstance(field, fields.Integer):
        return f"{label}应为 {low}–{high} 的整数"
    return f"{label}应在 {low}–{high} 之间"
