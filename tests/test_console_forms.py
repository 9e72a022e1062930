"""The console's form layer (server/console/forms.py): form text read by an API schema, Chinese messages."""

from datetime import UTC, datetime

import pytest
from marshmallow import Schema, fields, validate

from server.clock import SERVER_ZONE
from server.console.forms import load_form, local_input, local_time, refusal
from server.errors import AppError
from server.schemas import FITS_INT, IN_SERVICE_TIME, MAX_INT


class Thing(Schema):
    """A schema with one field of each kind a console form fills."""

    community_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    name = fields.String(required=True, validate=validate.Length(min=1, max=10))
    note = fields.String(load_default="", validate=validate.Length(max=5))
    sponsor = fields.String(allow_none=True)
    count = fields.Integer(load_default=3, strict=True, validate=validate.Range(min=0, max=9))
    limit = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_INT))
    share = fields.Decimal(allow_none=True, places=2, validate=validate.Range(min=0, max=1))
    period = fields.String(load_default="month", validate=validate.OneOf(["month", "year"]))
    code = fields.String(validate=validate.Regexp(r"^[A-Z]+$"))
    starts = fields.AwareDateTime(allow_none=True, default_timezone=SERVER_ZONE, validate=IN_SERVICE_TIME)
    active = fields.Boolean(load_default=True)


LABELS = {"name": "名称", "note": "备注", "count": "数量", "limit": "限额", "share": "比例", "period": "周期"}


def test_form_text_is_read_as_each_fields_type():
    form = {"community_id": "7", "name": " 大米 ", "sponsor": "", "limit": "5000", "share": "0.5"}
    values, errors = load_form(Thing(), form | {"starts": "2026-12-01T10:00", "active": "on"}, LABELS)
    assert errors == {}
    assert values == {
        "community_id": 7,
        "name": "大米",
        "note": "",  # left out of the form: the API's default
        "sponsor": None,  # blank where the API takes None
        "count": 3,
        "limit": 5000,  # as large as the API takes: no bound of the console's own
        "share": pytest.approx(0.5),
        "period": "month",
        "starts": datetime(2026, 12, 1, 2, 0, tzinfo=UTC),  # read in the server's zone
        "active": True,
    }
    assert load_form(Thing(), form, LABELS)[0]["active"] is False  # an unticked checkbox is not sent


def test_each_complaint_is_a_chinese_message_beside_its_field():
    form = {
        "community_id": "",
        "name": "",
        "note": "长长长长长长",
        "count": "10",
        "limit": "1.5",
        "share": "many",
        "period": "week",
        "code": "abc",
        "starts": "1999-12-31T23:59",
    }
    values, errors = load_form(Thing(), form, LABELS, {"community_id": "请选择社区"})
    assert errors == {
        "community_id": "请选择社区",
        "name": "请填写名称（最多 10 字）",
        "note": "备注最多 5 字",
        "count": "数量应为 0–9 的整数",
        "limit": "请输入整数",
        "share": "请输入数字",
        "period": "周期不正确",
        "code": "此项格式不正确",  # a field without a label
        "starts": "时间应在 2000 年至 2099 年之间",
    }
    assert "count" not in values and "name" not in values  # only what passed
    blank = load_form(Thing(), {"community_id": "1", "name": "x", "count": ""}, LABELS, required=["count"])
    assert blank[1] == {"count": "请填写数量"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("2026-13-01T00:00", "时间格式不正确"), ("0001-01-01T00:00", "时间应在 2000 年至 2099 年之间")],
)
def test_a_datetime_local_value_is_read_in_the_server_zone_within_the_apis_range(text, message):
    assert local_time("2026-12-01T10:00") == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert local_time("  ") is None
    with pytest.raises(ValueError, match=message):
        local_time(text)


def test_a_stored_time_is_shown_in_the_server_zone():
    assert local_input(datetime(2026, 12, 1, 2, 0, tzinfo=UTC)) == "2026-12-01T10:00"
    assert local_input(None) == ""


def test_a_refusal_names_its_fields_and_keeps_its_status():
    error = AppError("VALIDATION_ERROR", status=422, details={"fields": {"ends_at": ["x"], "place": ["y"]}})
    assert refusal(error, {"ends_at": "结束时间须晚于开始时间"}) == (
        {"ends_at": "结束时间须晚于开始时间", "place": "取值不正确"},
        422,
    )
    assert refusal(AppError("FORBIDDEN", status=403), {}) == ({}, 403)
