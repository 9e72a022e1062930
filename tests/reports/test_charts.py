"""The SVG bar geometry: round axes, bars proportional to their values, negatives below the zero line."""

import pytest

from reports.charts import HEIGHT, nice_step, ranking_bars
from reports.charts import grouped_bars as bars


@pytest.mark.parametrize(
    ("span", "step"), [(0, 1), (4, 1), (7, 2), (10, 2.5), (18, 5), (40, 10), (130, 50), (0.4, 0.1)]
)
def test_steps_are_round(span, step):
    assert nice_step(span) == pytest.approx(step)


def test_bars_are_proportional_and_share_one_axis():
    chart = bars("k", "t", ["1月", "2月"], [("发放", [40, 10]), ("兑换", [20, 0])])
    heights = {bar.title: bar.height for bar in chart.bars}
    assert heights["1月 发放：40"] == pytest.approx(2 * heights["1月 兑换：20"], abs=0.2)
    assert heights["2月 发放：10"] == pytest.approx(heights["1月 发放：40"] / 4, abs=0.2)
    assert heights["2月 兑换：0"] == 0
    assert [t.text for t in chart.y_ticks] == ["0", "10", "20", "30", "40"]
    assert [label.text for label in chart.x_labels] == ["1月", "2月"]
    assert chart.legend == [("发放", "#1e88e5"), ("兑换", "#43a047")]
    assert not chart.empty


def test_a_negative_month_hangs_below_zero():
    chart = bars("k", "t", ["1月", "2月"], [("发放", [-5, 15])])
    negative, positive = chart.bars
    assert negative.y == pytest.approx(chart.zero_y)
    assert positive.y + positive.height == pytest.approx(chart.zero_y)
    assert chart.y_ticks[0].text == "-5"
    assert all(0 <= t.at <= HEIGHT for t in chart.y_ticks)


def test_long_periods_thin_the_labels_and_hide_values():
    months = [f"{m}" for m in range(36)]
    chart = bars("k", "t", months, [("a", [1] * 36), ("b", [2] * 36)])
    assert len(chart.x_labels) == 12
    assert not any(bar.show_value for bar in chart.bars)


def test_nothing_to_draw_is_said_so():
    assert bars("k", "t", ["1月"], [("a", [0])]).empty
    assert ranking_bars("k", "t", [], []).empty
    ranked = ranking_bars("k", "t", ["1. 李*", "2. 王**"], [20, 10])
    assert ranked.bars[0].width == pytest.approx(2 * ranked.bars[1].width, abs=0.2)
