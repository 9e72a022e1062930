"""The report as an .xlsx workbook (openpyxl): one sheet per table, a title row, Chinese headers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.services import FIGURES, ORG_KIND_LABELS, Report

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEETS = ("概览", "月度签到", "月度积分", "月度心愿", "志愿者排行")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def filename(report: Report) -> str:
    """linli-report-C01-2026-01-01-2026-11-22.xlsx."""
    return f"linli-report-{report.org.code}-{report.date_from.isoformat()}-{report.date_to.isoformat()}.xlsx"


def title(report: Report) -> str:
    """The title row of every sheet: who, which period."""
    kind = ORG_KIND_LABELS.get(report.org.kind, "")
    return (
        f"{report.org.name}（{kind} {report.org.code}）统计报表　"
        f"统计时段：{report.date_from.isoformat()} 至 {report.date_to.isoformat()}"
    )


def _sheet(
    book: Workbook, name: str, report: Report, headers: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Worksheet:
    sheet: Worksheet = book.create_sheet(name)  # a Worksheet in a workbook that is not write-only
    sheet.append([title(report)])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(list(headers))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
    for row in rows:
        sheet.append(list(row))
    sheet.freeze_panes = "A3"
    for index, header in enumerate(headers, start=1):
        widest = max([len(str(header)) * 2, *(len(str(r[index - 1])) for r in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, widest + 2))
    return sheet


def _total_row(rows: Sequence[Sequence[Any]]) -> list[Any]:
    width = len(rows[0]) if rows else 0
    return ["合计", *(sum(r[i] for r in rows) for i in range(1, width))]


def build(report: Report) -> bytes:
    """The workbook's bytes."""
    book = Workbook()
    book.remove(book.worksheets[0])  # the empty sheet a new workbook starts with
    f = report.figures
    overview = [
        [label, float(getattr(f, key)) if key == "volunteer_hours" else getattr(f, key), unit, note]
        for key, label, unit, note in FIGURES
    ]
    overview.append(["覆盖社区", report.communities, "个", "所选组织下的社区数"])
    sheet = _sheet(book, SHEETS[0], report, ["指标", "数值", "单位", "说明"], overview)
    sheet.append([])
    sheet.append(["摘要", report.summary_text])
    months = report.months
    checkins = [[m.label, m.activities, m.checkins, float(m.volunteer_hours)] for m in months]
    _sheet(
        book,
        SHEETS[1],
        report,
        ["月份", "开展活动（场）", "签到（人次）", "志愿服务时长（小时）"],
        [*checkins, [*_total_row(checkins)[:3], float(f.volunteer_hours)]],
    )
    points = [[m.label, m.points_issued, m.points_redeemed] for m in months]
    _sheet(
        book, SHEETS[2], report, ["月份", "发放积分（分）", "兑换积分（分）"], [*points, _total_row(points)]
    )
    wishes = [[m.label, m.wishes_posted, m.wishes_claimed, m.wishes_completed] for m in months]
    _sheet(
        book,
        SHEETS[3],
        report,
        ["月份", "发布微心愿（个）", "认领微心愿（个）", "完成微心愿（个）"],
        [*wishes, _total_row(wishes)],
    )
    _sheet(
        book,
        SHEETS[4],
        report,
        ["排名", "志愿者", "积分（分）", "志愿服务时长（小时）", "签到（次）"],
        [
            [v.rank, v.name_masked, v.points, float(v.volunteer_hours), v.checkins]
            for v in report.top_volunteers
        ],
    )
    for worksheet in book.worksheets:
        for cells in worksheet.iter_rows():
            for cell in cells:
                if cell.data_type == "f":  # no formulas here: text starting with "=" (a name) stays text
                    cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
