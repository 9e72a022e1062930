"""The leaderboard's ``me``: where the calling member stands, ranked as the board ranks (ties share a rank),
however far down, read in one query; null for staff, no rank for a member without points on that board."""

from datetime import timedelta
from typing import Any

from sqlalchemy import event

from points import services
from server.db import db
from tests.conftest import bearer


def _board(client, tokens, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/points/leaderboard?{query}", headers=bearer(tokens))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_a_member_below_the_last_row_shown_still_sees_their_rank_and_points(client, member):
    for n in range(1, 4):
        member(points=10 * n, name=f"ahead{n}")
    last = member(points=5, name="last")

    board = _board(client, last, "limit=2")

    assert [row["points"] for row in board["items"]] == [30, 20]
    assert board["me"] == {"rank": 4, "points": 5}


def test_ties_share_a_rank_in_me_as_on_the_board(client, member):
    callers = [member(points=p, name=f"m{i}") for i, p in enumerate((10, 10, 5, 5, 3))]
    rows = {row["user_id"]: row for row in _board(client, callers[0])["items"]}
    assert sorted(row["rank"] for row in rows.values()) == [1, 1, 3, 3, 5]
    for tokens in callers:
        row = rows[tokens["user"]["id"]]
        assert _board(client, tokens)["me"] == {"rank": row["rank"], "points": row["points"]}


def test_a_member_without_points_on_this_board_has_no_rank(client, member, clock):
    clock.now -= timedelta(days=30)  # November: points earned last month
    earlier = member(points=8, name="earlier")
    clock.now += timedelta(days=30)
    member(points=4, name="now")
    newcomer = member(points=0, name="newcomer")

    assert _board(client, newcomer)["me"] == {"rank": None, "points": 0}
    assert _board(client, earlier, "period=month")["me"] == {"rank": None, "points": 0}
    assert _board(client, earlier, "period=year")["me"] == {"rank": 1, "points": 8}


def test_me_counts_the_communities_of_the_board_asked_for(client, member, org_tree):
    here = member(points=6, name="here")
    member(points=9, name="there", community="C2")
    member(points=20, name="far", community="C3")  # under the other street

    assert _board(client, here)["me"] == {"rank": 1, "points": 6}
    assert _board(client, here, "org=S1")["me"] == {"rank": 2, "points": 6}
    assert _board(client, here, "org=D1")["me"] == {"rank": 3, "points": 6}
    assert _board(client, here, f"community_id={org_tree['C2'].id}")["me"] == {"rank": None, "points": 0}


def test_staff_are_not_on_the_board_so_their_me_is_null(client, member, make_staff, login_staff, org_tree):
    member(points=5)
    staff = login_staff(make_staff(org="C1"))
    board = _board(client, staff, f"community_id={org_tree['C1'].id}")
    assert len(board["items"]) == 1
    assert board["me"] is None


def test_the_place_is_read_in_one_query_whatever_the_size_of_the_board(app, member, org_tree):
    callers = [member(points=n, name=f"m{n}") for n in range(1, 13)]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            place = services.leaderboard_place(callers[2]["user"]["id"], [org_tree["C1"].id], "all")
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert (place.rank, place.points) == (10, 3)
    assert len(statements) == 1, statements
