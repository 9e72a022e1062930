"""The report routes: staff only, their own subtree, periods checked, and the .xlsx export."""

from datetime import date, datetime

import pytest

from server.clock import SERVER_ZONE
from tests.conftest import bearer
from tests.reports.seed import check_workbook, expected, get_summary

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_street_staff_see_their_communities_and_not_the_other_street(client, story, staff_of):
    street = staff_of("S1")
    body = get_summary(client, street, "S1", "2026-01-01", "2026-03-31").get_json()
    c1_and_c2 = expected(story.notes, {"C1", "C2"}, date(2026, 1, 1), date(2026, 3, 31))["figures"]
    assert body["figures"] == c1_and_c2
    assert (body["communities"], body["figures"]["checkins"]) == (2, 7)  # C1's 6 and C2's 1, not C3's
    for org in ("C1", "C2"):
        assert get_summary(client, street, org, "2026-01-01", "2026-03-31").status_code == 200
    for org in ("C3", "S2", "D1"):
        refused = get_summary(client, street, org, "2026-01-01", "2026-03-31")
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "FORBIDDEN"), org


@pytest.mark.parametrize(
    ("org", "status", "code"),
    [
        ("S1", 403, "FORBIDDEN"),
        ("C2", 403, "FORBIDDEN"),
        ("D1", 403, "FORBIDDEN"),
        ("NOPE", 404, "ORG_NOT_FOUND"),
        ("C1-G1", 422, "REPORT_ORG_INVALID"),
    ],
)
def test_community_staff_get_only_their_community(client, staff_of, org, status, code):
    headers = staff_of("C1")
    for path in ("summary", "export"):
        response = client.get(f"/api/v1/reports/{path}", query_string={"org": org}, headers=headers)
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code), path


def test_residents_and_strangers_get_no_report(client, org_tree, login_user):
    resident = client.get("/api/v1/reports/summary", headers=bearer(login_user("resident")))
    assert (resident.status_code, resident.get_json()["error"]["code"]) == (403, "FORBIDDEN")
    assert client.get("/api/v1/reports/summary").status_code == 401
    assert client.get("/api/v1/reports/export").status_code == 401


@pytest.mark.parametrize(
    ("start", "end", "status", "code"),
    [
        ("2026-02-01", "2026-01-31", 422, "PERIOD_INVALID"),
        ("2024-01-01", "2027-01-01", 422, "PERIOD_TOO_LONG"),
        ("2026-13-01", "2026-12-31", 422, "VALIDATION_ERROR"),
        ("yesterday", None, 422, "VALIDATION_ERROR"),
        ("2024-01-01", "2026-12-31", 200, None),
        ("2026-05-05", "2026-05-05", 200, None),
    ],
)
def test_periods_are_checked(client, staff_of, start, end, status, code):
    response = get_summary(client, staff_of("C1"), "C1", start, end)
    assert response.status_code == status, response.get_json()
    if code:
        assert response.get_json()["error"]["code"] == code


def test_the_defaults_are_my_org_and_this_year_until_today(client, staff_of):
    today = datetime.now(SERVER_ZONE).date()
    body = get_summary(client, staff_of("S1"), None, None, None).get_json()
    assert body["org"]["code"] == "S1"
    assert (body["from"], body["to"]) == (date(today.year, 1, 1).isoformat(), today.isoformat())
    assert len(body["months"]) == today.month
    earlier = get_summary(client, staff_of("C1"), None, None, "2025-06-30").get_json()
    assert (body["communities"], earlier["from"], earlier["to"]) == (2, "2025-01-01", "2025-06-30")


def test_the_export_is_the_summary_as_a_workbook(client, story, staff_of):
    headers = staff_of("C1")
    query = {"org": "C1", "from": "2026-01-01", "to": "2026-03-31"}
    summary = client.get("/api/v1/reports/summary", query_string=query, headers=headers).get_json()
    response = client.get("/api/v1/reports/export", query_string=query, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert (
        response.headers["Content-Disposition"]
        == "attachment; filename=linli-report-C1-2026-01-01-2026-03-31.xlsx"
    )
    check_workbook(response.get_data(), summary)


def test_the_export_of_an_empty_period_still_has_every_sheet(client, staff_of):
    headers = staff_of("S1")
    query = {"org": "S1", "from": "2026-01-01", "to": "2026-02-28"}
    summary = client.get("/api/v1/reports/summary", query_string=query, headers=headers).get_json()
    response = client.get("/api/v1/reports/export", query_string=query, headers=headers)
    assert response.status_code == 200
    check_workbook(response.get_data(), summary)


def test_dates_out_of_range_are_a_422(client, staff_of):
    # Near year 1 the local-midnight arithmetic of a period has nowhere to go.
    response = get_summary(client, staff_of("C1"), "C1", "0001-01-01", "0001-01-02")
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["error"]["details"]["fields"]) == {"from", "to"}
