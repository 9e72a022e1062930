"""The app starts and the happy path of the README works."""

from tests.conftest import bearer


def test_party_report_flow(client, org_tree, make_staff, login_staff, login_user):
    user = login_user("alice")
    response = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C1"].id, "branch": "某公司党支部"},
        headers=bearer(user),
    )
    assert response.status_code == 201, response.get_json()
    report_id = response.get_json()["id"]
    staff = login_staff(make_staff())
    response = client.post(f"/api/v1/party-reports/{report_id}/approve", headers=bearer(staff))
    assert response.status_code == 200, response.get_json()
    me = client.get("/api/v1/me", headers=bearer(user)).get_json()
    assert me["party_member"] is True
    assert me["community_id"] == org_tree["C1"].id
