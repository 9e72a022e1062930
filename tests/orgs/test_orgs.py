"""The org tree: building it (service and CLI), subtree checks, the public list of communities."""

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.db import db
from server.errors import AppError
from server.orgs.models import OrgUnit
from server.orgs.services import create_org, get_org_by_code
from server.users.models import StaffAccount, User

# --- create_org: each kind goes under the level above ---------------------------------------------


def refused(kind: str, name: str, code: str, parent: str | None) -> AppError:
    """The AppError that create_org raises for these arguments."""
    with pytest.raises(AppError) as caught:
        create_org(kind, name, code, parent)
    return caught.value


def test_a_street_goes_under_a_district(db_session, org_tree):
    street = create_org("street", "三街道", "S3", "D1")
    assert street.kind == "street"
    assert street.parent is not None and street.parent.code == "D1"
    assert street.path == f"/{org_tree['D1'].id}/{street.id}/"


def test_a_district_is_a_root(db_session):
    district = create_org("district", "新区", "D9")
    assert district.parent is None
    assert district.path == f"/{district.id}/"


def test_names_and_codes_are_stored_trimmed(db_session, org_tree):
    street = create_org("street", "  三街道 ", " S3 ", "D1")
    assert (street.name, street.code) == ("三街道", "S3")


@pytest.mark.parametrize(
    ("kind", "parent", "expected_parent_kind"),
    [
        ("community", "D1", "street"),  # skips a level
        ("grid", "S1", "community"),
        ("street", "C1", "district"),  # a level too low
        ("district", "D1", None),  # a district has no parent
        ("street", None, "district"),  # everything below a district needs one
    ],
)
def test_the_parent_must_be_the_level_above(db_session, org_tree, kind, parent, expected_parent_kind):
    error = refused(kind, "某单位", "X1", parent)
    assert error.code == "ORG_PARENT_INVALID"
    assert error.status_code == 422
    assert error.details["expected_parent_kind"] == expected_parent_kind
    assert db_session.scalars(select(OrgUnit).where(OrgUnit.code == "X1")).first() is None


def test_a_taken_code_is_a_conflict(db_session, org_tree):
    error = refused("community", "又一社区", "C1", "S2")
    assert error.code == "ORG_CODE_TAKEN"
    assert error.status_code == 409
    assert db_session.scalar(select(func.count()).where(OrgUnit.code == "C1")) == 1


def test_a_code_taken_up_to_surrounding_spaces_is_a_conflict_too(db_session, org_tree):
    error = refused("community", "又一社区", " C1 ", "S2")
    assert error.code == "ORG_CODE_TAKEN"
    assert error.status_code == 409


def test_an_unknown_parent_is_not_found(db_session, org_tree):
    error = refused("street", "某街道", "S9", "NOPE")
    assert error.code == "ORG_NOT_FOUND"
    assert error.status_code == 404
    assert error.details == {"code": "NOPE"}


def test_an_unknown_kind_is_a_validation_error(db_session):
    error = refused("province", "某省", "P1", None)
    assert error.code == "VALIDATION_ERROR"
    assert error.status_code == 422


@pytest.mark.parametrize(("name", "code"), [("", "X1"), ("   ", "X1"), ("某区", ""), ("某区", "  ")])
def test_a_name_and_a_code_are_required(db_session, name, code):
    assert refused("district", name, code, None).code == "VALIDATION_ERROR"


# --- the path and subtree checks --------------------------------------------------------------------


def test_paths_follow_the_tree(db_session, org_tree):
    grid = get_org_by_code("C1-G1")
    ids = [org_tree[code].id for code in ("D1", "S1", "C1", "C1-G1")]
    assert grid.path == "/" + "/".join(str(i) for i in ids) + "/"


def test_a_district_contains_everything_below_it(db_session, org_tree):
    district = get_org_by_code("D1")
    for code in ("S1", "S2", "C1", "C3", "C1-G1"):
        assert district.contains(get_org_by_code(code)), code


def test_a_unit_contains_itself(db_session, org_tree):
    community = get_org_by_code("C1")
    assert community.contains(community)


def test_a_community_does_not_contain_its_sibling_or_its_parent(db_session, org_tree):
    community = get_org_by_code("C1")
    assert not community.contains(get_org_by_code("C2"))
    assert not community.contains(get_org_by_code("S1"))
    assert not get_org_by_code("S1").contains(get_org_by_code("C3"))


def test_a_community_contains_its_grid_but_not_a_cousins(db_session, org_tree):
    assert get_org_by_code("C1").contains(get_org_by_code("C1-G1"))
    assert not get_org_by_code("C2").contains(get_org_by_code("C1-G1"))


def test_get_org_by_code_refuses_an_unknown_code(db_session):
    with pytest.raises(AppError) as caught:
        get_org_by_code("NOPE")
    assert caught.value.code == "ORG_NOT_FOUND"


# --- GET /api/v1/communities ------------------------------------------------------------------------


def test_communities_lists_only_communities_with_their_street_and_district(client, org_tree):
    response = client.get("/api/v1/communities")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 3
    assert (body["page"], body["page_size"]) == (1, 20)
    by_code = {item["code"]: item for item in body["items"]}
    assert list(by_code) == ["C1", "C2", "C3"]
    assert by_code["C1"] == {
        "id": org_tree["C1"].id,
        "code": "C1",
        "name": "一社区",
        "street_name": "一街道",
        "district_name": "测试区",
    }
    assert by_code["C3"]["street_name"] == "二街道"
    assert by_code["C3"]["district_name"] == "测试区"


def test_communities_are_paged(client, org_tree):
    first = client.get("/api/v1/communities?page_size=1").get_json()
    assert first["total"] == 3
    assert [item["code"] for item in first["items"]] == ["C1"]
    assert first["page_size"] == 1
    second = client.get("/api/v1/communities?page=2&page_size=1").get_json()
    assert [item["code"] for item in second["items"]] == ["C2"]
    beyond = client.get("/api/v1/communities?page=9&page_size=1").get_json()
    assert beyond["items"] == []
    assert beyond["total"] == 3


@pytest.mark.parametrize(
    ("query", "field"), [("page_size=101", "page_size"), ("page_size=0", "page_size"), ("page=0", "page")]
)
def test_paging_outside_the_limits_is_a_validation_error(client, org_tree, query, field):
    response = client.get(f"/api/v1/communities?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    fields = error["details"]["fields"]
    assert field in fields


def test_communities_need_no_login_and_an_empty_tree_is_an_empty_page(client):
    body = client.get("/api/v1/communities").get_json()
    assert body == {"items": [], "total": 0, "page": 1, "page_size": 20}


# --- the CLI ------------------------------------------------------------------------------------------


def count(app: Flask, model, *where) -> int:
    """Rows of ``model`` committed to the database, read in a fresh app context."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_org_create_builds_the_tree(app):
    result = invoke(app, "org", "create", "--kind", "district", "--name", "X区", "--code", "X1")
    assert result.exit_code == 0, result.output
    assert "X1" in result.output
    result = invoke(
        app, "org", "create", "--kind", "street", "--name", "X街道", "--code", "XS1", "--parent", "X1"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        street = get_org_by_code("XS1")
        assert street.kind == "street"
        assert street.parent is not None and street.parent.code == "X1"
        assert get_org_by_code("X1").contains(street)


def test_org_create_under_the_wrong_kind_of_parent_fails_and_creates_nothing(app):
    assert invoke(app, "org", "create", "--kind", "district", "--name", "X区", "--code", "X1").exit_code == 0
    result = invoke(
        app, "org", "create", "--kind", "community", "--name", "X社区", "--code", "XC1", "--parent", "X1"
    )
    assert result.exit_code != 0
    assert "ORG_PARENT_INVALID" in result.output
    assert count(app, OrgUnit, OrgUnit.code == "XC1") == 0
    assert count(app, OrgUnit) == 1


def test_org_create_refuses_an_unknown_kind(app):
    result = invoke(app, "org", "create", "--kind", "province", "--name", "某省", "--code", "P1")
    assert result.exit_code != 0
    assert count(app, OrgUnit) == 0


def test_staff_create_makes_an_account_that_can_log_in(app, client, org_tree):
    result = invoke(
        app,
        "staff",
        "create",
        "--username",
        "u",
        "--password",
        "longenough1",
        "--role",
        "staff",
        "--org",
        "C1",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        staff = db.session.scalars(select(StaffAccount).where(StaffAccount.username == "u")).one()
        assert (staff.role, staff.org.code) == ("staff", "C1")
        assert "longenough1" not in staff.password_hash
    response = client.post("/api/v1/auth/staff", json={"username": "u", "password": "longenough1"})
    assert response.status_code == 200, response.get_json()


def test_staff_create_refuses_a_taken_username(app, org_tree):
    args = (
        "staff",
        "create",
        "--username",
        "u",
        "--password",
        "longenough1",
        "--role",
        "staff",
        "--org",
        "C1",
    )
    assert invoke(app, *args).exit_code == 0
    result = invoke(app, *args[:-1], "C2")
    assert result.exit_code != 0
    assert "USERNAME_TAKEN" in result.output
    assert count(app, StaffAccount) == 1


def test_staff_create_refuses_a_short_password(app, org_tree):
    result = invoke(
        app, "staff", "create", "--username", "u", "--password", "short", "--role", "staff", "--org", "C1"
    )
    assert result.exit_code != 0
    assert "VALIDATION_ERROR" in result.output
    assert "password" in result.output
    assert count(app, StaffAccount) == 0


def test_staff_create_refuses_an_unknown_org(app, org_tree):
    result = invoke(
        app,
        "staff",
        "create",
        "--username",
        "u",
        "--password",
        "longenough1",
        "--role",
        "staff",
        "--org",
        "NOPE",
    )
    assert result.exit_code != 0
    assert "ORG_NOT_FOUND" in result.output
    assert count(app, StaffAccount) == 0


def test_seed_demo_is_idempotent_and_prints_working_demo_logins(app, client):
    def counts() -> tuple[int, int, int]:
        return count(app, OrgUnit), count(app, StaffAccount), count(app, User)

    first = invoke(app, "seed-demo")
    assert first.exit_code == 0, first.output
    after_first = counts()
    assert all(after_first)
    second = invoke(app, "seed-demo")
    assert second.exit_code == 0, second.output
    assert counts() == after_first
    assert second.output == first.output

    logins = [line.split() for line in first.output.splitlines() if "staff login" in line]
    assert logins
    for words in logins:
        username, password = words[2], words[4]
        response = client.post("/api/v1/auth/staff", json={"username": username, "password": password})
        assert response.status_code == 200, (username, response.get_json())


def test_a_page_beyond_the_integer_range_is_a_422_not_a_500(client):
    # Found by the fuzz run: the offset of page 4467788274826644992 overflowed in PostgreSQL.
    response = client.get("/api/v1/communities?page=4467788274826644992")
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["page"]
