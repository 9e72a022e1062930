"""Report figures against numbers computed directly from the seeded story, at the period's edges too."""

from datetime import date

import pytest
from flask import Flask

from reports import services
from server.auth.policy import Principal
from server.db import db
from server.errors import AppError
from server.users.models import StaffAccount
from tests.reports.seed import expected, get_summary, months_of

Q1 = ("2026-01-01", "2026-03-31")


def _check(client, headers, notes, org, codes, start, end):
    """The summary of ``org`` equals the figures, months and top list computed from the notes."""
    response = get_summary(client, headers, org, start, end)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    want = expected(notes, codes, date.fromisoformat(start), date.fromisoformat(end))
    assert body["figures"] == want["figures"], org
    assert months_of(body) == want["months"], org
    assert [{k: v for k, v in row.items() if k != "rank"} for row in body["top_volunteers"]] == want["top"], (
        org
    )
    return body


def test_the_first_quarter_of_c1_equals_what_was_seeded(client, story, staff_of):
    body = _check(client, staff_of("C1"), story.notes, "C1", {"C1"}, *Q1)
    # The same numbers by hand (see seed_story's docstring for where each comes from).
    assert body["figures"] == {
        "activities": 3,
        "checkins": 6,
        "volunteer_minutes": 360,
        "volunteer_hours": 6.0,
        "distinct_members": 3,
        "points_issued": 53,
        "points_redeemed": 10,
        "wishes_posted": 5,
        "wishes_claimed": 5,
        "wishes_completed": 3,
        "residents_served": 3,
        "residents_distinct": 2,
    }
    assert [m["month"] for m in body["months"]] == ["2026-01", "2026-02", "2026-03"]
    assert [m["points_issued"] for m in body["months"]] == [10, 34, 9]
    assert [m["volunteer_hours"] for m in body["months"]] == [0.0, 4.5, 1.5]
    assert [(v["rank"], v["name_masked"], v["points"]) for v in body["top_volunteers"]] == [
        (1, "李*", 20),
        (2, "王**", 18),
        (3, "张*", 15),
    ]
    assert body["org"] == {"code": "C1", "name": "一社区", "kind": "community"}
    assert (body["from"], body["to"], body["communities"]) == ("2026-01-01", "2026-03-31", 1)
    assert body["summary_text"] == (
        "本期开展活动3场，签到6人次，志愿服务6小时；认领兑现微心愿3个，服务居民3人次；发放积分53分，兑换积分10分。"
    )


def test_every_org_unit_reports_the_communities_under_it(client, story, staff_of):
    district = staff_of("D1")
    for org, codes in [
        ("C2", {"C2"}),
        ("C3", {"C3"}),
        ("S1", {"C1", "C2"}),
        ("S2", {"C3"}),
        ("D1", {"C1", "C2", "C3"}),
    ]:
        _check(client, district, story.notes, org, codes, *Q1)
    whole = _check(client, district, story.notes, "D1", {"C1", "C2", "C3"}, "2025-12-01", "2026-04-30")
    assert whole["communities"] == 3
    assert [m["month"] for m in whole["months"]] == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


@pytest.mark.parametrize(
    ("day", "figures"),
    [
        # W4 posted at 23:30 on 31 December; nothing else that day.
        ("2025-12-31", {"activities": 0, "checkins": 0, "wishes_posted": 1, "points_issued": 0}),
        # The party day at 00:30 on 1 January (still 31 December in UTC) and its two check-ins.
        ("2026-01-01", {"activities": 1, "checkins": 2, "wishes_posted": 0, "points_issued": 10}),
        # m3 at 23:50 counts; m4 at 00:10 the next morning does not.
        ("2026-03-31", {"activities": 1, "checkins": 1, "wishes_completed": 0, "points_issued": 5}),
        # April's party day, m4's and m2's check-ins, W4 completed at 00:05.
        ("2026-04-01", {"activities": 1, "checkins": 2, "wishes_completed": 1, "points_issued": 15}),
    ],
)
def test_a_day_is_a_day_in_shanghai(client, story, staff_of, day, figures):
    body = _check(client, staff_of("C1"), story.notes, "C1", {"C1"}, day, day)
    assert {k: body["figures"][k] for k in figures} == figures


def test_the_day_after_the_period_is_not_counted(client, story, staff_of):
    headers = staff_of("C1")
    through_march = get_summary(client, headers, "C1", *Q1).get_json()["figures"]
    through_april = get_summary(client, headers, "C1", "2026-01-01", "2026-04-01").get_json()["figures"]
    assert through_april["checkins"] == through_march["checkins"] + 2
    assert through_april["activities"] == through_march["activities"] + 1
    assert through_april["wishes_completed"] == through_march["wishes_completed"] + 1


def test_an_empty_period_reports_zeros_and_every_month(client, story, staff_of):
    body = _check(client, staff_of("C1"), story.notes, "C1", {"C1"}, "2024-01-01", "2024-12-31")
    assert set(body["figures"].values()) == {0}
    assert len(body["months"]) == 12
    assert body["top_volunteers"] == []


def _principal(app: Flask, staff_id: int) -> Principal:
    return Principal(kind="staff", staff=db.session.get(StaffAccount, staff_id))


def test_the_service_decides_scope_and_period(app, make_staff):
    c1, s1 = make_staff(org="C1"), make_staff(org="S1")
    with app.app_context():
        report = services.summary(_principal(app, s1.id), "C2", date(2026, 1, 1), date(2026, 1, 31))
        assert (report.org.code, report.communities, len(report.months)) == ("C2", 1, 1)
        cases = [
            (c1.id, "S1", (2026, 1, 1), (2026, 1, 31), 403, "FORBIDDEN"),
            (c1.id, "C2", (2026, 1, 1), (2026, 1, 31), 403, "FORBIDDEN"),
            (s1.id, "C3", (2026, 1, 1), (2026, 1, 31), 403, "FORBIDDEN"),
            (s1.id, "NOPE", (2026, 1, 1), (2026, 1, 31), 404, "ORG_NOT_FOUND"),
            (c1.id, "C1-G1", (2026, 1, 1), (2026, 1, 31), 422, "REPORT_ORG_INVALID"),
            (c1.id, "C1", (2026, 2, 1), (2026, 1, 31), 422, "PERIOD_INVALID"),
            (c1.id, "C1", (2024, 1, 1), (2027, 1, 1), 422, "PERIOD_TOO_LONG"),
        ]
        for staff_id, org, start, end, status, code in cases:
            with pytest.raises(AppError) as refused:
                services.summary(_principal(app, staff_id), org, date(*start), date(*end))
            assert (refused.value.status_code, refused.value.code) == (status, code), org
        longest = services.summary(_principal(app, c1.id), "C1", date(2024, 1, 1), date(2026, 12, 31))
        assert len(longest.months) == services.MAX_MONTHS


def test_the_sentence_reads_the_figures():
    figures = services.Figures(
        activities=12,
        checkins=345,
        volunteer_minutes=61,
        distinct_members=80,
        points_issued=2000,
        points_redeemed=640,
        wishes_posted=20,
        wishes_claimed=18,
        wishes_completed=15,
        residents_served=15,
        residents_distinct=11,
    )
    assert services.sentence(figures) == (
        "本期开展活动12场，签到345人次，志愿服务1小时；认领兑现微心愿15个，服务居民15人次；"
        "发放积分2000分，兑换积分640分。"
    )
    assert [services.format_hours(m) for m in (0, 30, 61, 90, 93, 600)] == [
        "0",
        "0.5",
        "1",
        "1.5",
        "1.6",
        "10",
    ]
