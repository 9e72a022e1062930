"""The console's report page (统计报表): figures, the sentence reported upward, SVG charts, tables, export."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Flask, render_template, request
from marshmallow import ValidationError

from reports import services
from reports.blueprint import xlsx_response
from reports.charts import report_charts
from server.console import MenuEntry, current_staff, register_pages
from server.errors import AppError, message_for
from server.schemas import IN_SERVICE_DATE

bp = Blueprint(
    "console_reports",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/reports-static",
)


def init_app(app: Flask) -> None:
    """Hang the report page on the console."""
    register_pages(app, bp, menu=[MenuEntry("统计报表", "console_reports.view", order=80)])


class DateRefused(AppError):
    """A date of the query string that is not a date in the API's range (2000-01-01 to 2099-12-31)."""

    status = 422

    def __init__(self, name: str, raw: str, message: str) -> None:
        super().__init__("VALIDATION_ERROR", details={"fields": {name: [message]}, "value": raw})
        self.message = message


def _date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    label = "开始日期" if name == "from" else "结束日期"
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise DateRefused(name, raw, f"{label}格式不正确，应为 YYYY-MM-DD") from exc
    try:
        return IN_SERVICE_DATE(day)  # near year 1 or 9999 the period's arithmetic overflows
    except ValidationError as exc:
        raise DateRefused(name, raw, f"{label}应在 2000-01-01 至 2099-12-31 之间") from exc


def _report() -> services.Report:
    """The report the query string asks for (the same service, and checks, as the API)."""
    return services.summary(current_staff(), request.args.get("org") or None, _date("from"), _date("to"))


def _cards(report: services.Report) -> list[tuple[str, str, str, str, str]]:
    """(key, label, unit, note, value as shown) of every figure."""
    figures = report.figures
    cards = []
    for key, label, unit, note in services.FIGURES:
        value = (
            services.format_hours(figures.volunteer_minutes)
            if key == "volunteer_hours"
            else str(getattr(figures, key))
        )
        cards.append((key, label, unit, note, value))
    return cards


def _refused(error: AppError) -> tuple[str, int]:
    """The form again with what was typed and why it was refused (422)."""
    message = error.message if isinstance(error, DateRefused) else message_for(error.code)
    page = render_template(
        "console/reports/report.html",
        units=services.reportable_units(current_staff()),
        form={k: request.args.get(k, "") for k in ("org", "from", "to")},
        report=None,
        kinds=services.ORG_KIND_LABELS,
        error=f"{message}（{error.code}）",
    )
    return page, 422


@bp.route("/reports")
def view() -> tuple[str, int]:
    """The report of the chosen org unit and period (default: mine, this year up to today)."""
    principal = current_staff()
    units = services.reportable_units(principal)
    try:
        report = _report()
    except AppError as error:
        if error.status_code != 422:
            raise
        return _refused(error)
    form = {"org": report.org.code, "from": report.date_from.isoformat(), "to": report.date_to.isoformat()}
    page = render_template(
        "console/reports/report.html",
        units=units,
        form=form,
        report=report,
        cards=_cards(report),
        charts=report_charts(report),
        kinds=services.ORG_KIND_LABELS,
        format_hours=services.format_hours,
        error=None,
    )
    return page, 200


@bp.route("/reports/export")
def export() -> Any:
    """The same report as an .xlsx download (the browser has the session cookie, not a Bearer token)."""
    try:
        report = _report()
    except AppError as error:
        if error.status_code != 422:
            raise
        return _refused(error)
    return xlsx_response(report)
