"""Routes of reports: the summary as JSON and as an .xlsx workbook (staff, their own subtree)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from reports import services, workbook
from reports.schemas import ReportArgs, SummarySchema
from server.auth.policy import auth_required, current_principal

blp = Blueprint(
    "reports", __name__, url_prefix="/api/v1/reports", description="Reports: figures for a period"
)


def _report(args: dict[str, Any]) -> services.Report:
    return services.summary(current_principal(), args.get("org"), args.get("date_from"), args.get("date_to"))


def xlsx_response(report: services.Report) -> Response:
    """The workbook as a download named for the org and the period."""
    response = Response(workbook.build(report), mimetype=workbook.XLSX_MIMETYPE)
    response.headers.set("Content-Disposition", "attachment", filename=workbook.filename(report))
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/summary", methods=["GET"])
@auth_required("staff")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, SummarySchema)
def summary(args: dict[str, Any]) -> services.Report:
    """Figures, monthly series and top volunteers of an org unit's communities (default: mine, this year)."""
    return _report(args)


@blp.route("/export", methods=["GET"])
@auth_required("staff")
@blp.arguments(ReportArgs, location="query")
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=workbook.XLSX_MIMETYPE,
    description="the workbook: 概览, 月度签到, 月度积分, 月度心愿, 志愿者排行",
)
def export(args: dict[str, Any]) -> Response:
    """The same report as an .xlsx workbook, one sheet per table."""
    return xlsx_response(_report(args))
