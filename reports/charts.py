"""Bar charts as plain SVG geometry, drawn by a Jinja macro: no JavaScript, crisp on paper, testable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from reports.services import MonthRow, Report, TopVolunteer

COLORS = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa")
WIDTH, HEIGHT = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 16, 34
LABEL_ALL_UP_TO = 24  # value labels over bars while there are at most this many bars


@dataclass(frozen=True)
class Bar:
    """One bar: where it is drawn, its value as text and what the tooltip says."""

    x: float
    y: float
    width: float
    height: float
    color: str
    value: str
    title: str
    show_value: bool


@dataclass(frozen=True)
class Tick:
    """A labelled position on an axis."""

    at: float
    text: str


@dataclass(frozen=True)
class Chart:
    """What the macro draws: bars, axis ticks, category labels and a legend."""

    key: str
    title: str
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_labels: list[Tick]
    legend: list[tuple[str, str]]
    zero_y: float
    left: float = LEFT
    right: float = WIDTH - RIGHT
    horizontal: bool = False
    empty: bool = False


def nice_step(span: float, parts: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) dividing ``span`` into about ``parts``."""
    if span <= 0:
        return 1.0
    raw = span / parts
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _scale(values: Sequence[float]) -> tuple[float, float, float]:
    """(low, high, step) of an axis that holds every value and zero."""
    low, high = min([0.0, *values]), max([0.0, *values])
    step = nice_step(high - low if high > low else 1.0)
    return step * math.floor(low / step), step * math.ceil(high / step) or step, step


def grouped_bars(
    key: str, title: str, categories: list[str], series: list[tuple[str, Sequence[float]]], unit: str = ""
) -> Chart:
    """Vertical bars per category (a month), one bar per series, on one shared axis."""
    values = [float(v) for _, vs in series for v in vs]
    low, high, step = _scale(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_h * (high - value) / (high - low)

    group_w = plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    show = len(categories) * len(series) <= LABEL_ALL_UP_TO
    bars = []
    for s, (name, vs) in enumerate(series):
        for c, value in enumerate(vs):
            top, bottom = sorted((y_of(float(value)), y_of(0.0)))
            bars.append(
                Bar(
                    x=round(LEFT + c * group_w + group_w * 0.1 + s * bar_w, 1),
                    y=round(top, 1),
                    width=round(bar_w, 1),
                    height=round(bottom - top, 1),
                    color=COLORS[s % len(COLORS)],
                    value=_text(float(value)),
                    title=f"{categories[c]} {name}：{_text(float(value))}{unit}",
                    show_value=show,
                )
            )
    ticks, at = [], low
    while at <= high + step / 2:
        ticks.append(Tick(round(y_of(at), 1), _text(at)))
        at += step
    every = max(1, math.ceil(len(categories) / 12))
    labels = [
        Tick(round(LEFT + (c + 0.5) * group_w, 1), text)
        for c, text in enumerate(categories)
        if c % every == 0
    ]
    legend = [(name, COLORS[s % len(COLORS)]) for s, (name, _) in enumerate(series)]
    return Chart(
        key, title, WIDTH, HEIGHT, bars, ticks, labels, legend, round(y_of(0.0), 1), empty=not any(values)
    )


def ranking_bars(key: str, title: str, names: list[str], values: Sequence[float], unit: str = "") -> Chart:
    """Horizontal bars, one per person, longest first."""
    row_h, left = 26, 96
    height = TOP + BOTTOM + row_h * max(1, len(names))
    high = max([1.0, *(float(v) for v in values)])
    plot_w = WIDTH - left - RIGHT - 40
    bars = [
        Bar(
            x=left,
            y=TOP + i * row_h + 4,
            width=round(plot_w * max(0.0, float(v)) / high, 1),
            height=row_h - 8,
            color=COLORS[0],
            value=_text(float(v)),
            title=f"{names[i]}：{_text(float(v))}{unit}",
            show_value=True,
        )
        for i, v in enumerate(values)
    ]
    labels = [Tick(TOP + i * row_h + row_h / 2 + 4, name) for i, name in enumerate(names)]
    return Chart(
        key,
        title,
        WIDTH,
        height,
        bars,
        [],
        labels,
        [],
        float(left),
        left=left,
        horizontal=True,
        empty=not names,
    )


def month_label(row: MonthRow, multi_year: bool) -> str:
    """1月, or 26-01 when the period crosses a year."""
    return row.month.strftime("%y-%m") if multi_year else f"{row.month.month}月"


def _hours(value: Decimal) -> float:
    return float(value)


def report_charts(report: Report) -> list[Chart]:
    """The report's charts: check-ins, hours, points, wishes by month, and the top volunteers."""
    rows = report.months
    multi_year = rows[0].month.year != rows[-1].month.year
    months = [month_label(r, multi_year) for r in rows]
    top: list[TopVolunteer] = report.top_volunteers
    return [
        grouped_bars("checkins", "每月签到人次", months, [("签到人次", [r.checkins for r in rows])], "人次"),
        grouped_bars(
            "hours",
            "每月志愿服务时长（小时）",
            months,
            [("志愿服务时长", [_hours(r.volunteer_hours) for r in rows])],
            "小时",
        ),
        grouped_bars(
            "points",
            "每月发放与兑换积分",
            months,
            [("发放积分", [r.points_issued for r in rows]), ("兑换积分", [r.points_redeemed for r in rows])],
            "分",
        ),
        grouped_bars(
            "wishes",
            "每月微心愿",
            months,
            [
                ("发布", [r.wishes_posted for r in rows]),
                ("认领", [r.wishes_claimed for r in rows]),
                ("完成", [r.wishes_completed for r in rows]),
            ],
            "个",
        ),
        ranking_bars(
            "top",
            "志愿者积分排行",
            [f"{v.rank}. {v.name_masked}" for v in top],
            [v.points for v in top],
            "分",
        ),
    ]
