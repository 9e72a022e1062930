"""Volunteers (志愿者) of a community, registered by its staff; with party members they may claim wishes."""

from tests.conftest import bearer


def _user(client, login_user, org_tree, name="vol"):
    tokens = login_user(name)
    client.patch("/api/v1/me", json={"community_id": org_tree["C1"].id}, headers=bearer(tokens))
    return tokens


def test_staff_register_list_and_remove_a_volunteer(client, login_user, login_staff, make_staff, org_tree):
    staff = bearer(login_staff(make_staff(org="C1")))
    tokens = _user(client, login_user, org_tree)
    community = org_tree["C1"].id
    added = client.post(
        f"/api/v1/communities/{community}/volunteers", json={"user_id": tokens["user"]["id"]}, headers=staff
    )
    assert added.status_code == 200
    assert added.get_json()["volunteer_community_id"] == community
    me = client.get("/api/v1/me", headers=bearer(tokens)).get_json()
    assert "volunteer" in me["roles"] and me["volunteer_community_id"] == community
    again = client.post(
        f"/api/v1/communities/{community}/volunteers", json={"user_id": tokens["user"]["id"]}, headers=staff
    )
    assert again.status_code == 200  # registering twice is harmless
    listed = client.get(f"/api/v1/communities/{community}/volunteers", headers=staff).get_json()
    assert [v["id"] for v in listed["items"]] == [tokens["user"]["id"]]
    removed = client.delete(
        f"/api/v1/communities/{community}/volunteers/{tokens['user']['id']}", headers=staff
    )
    assert removed.status_code == 204
    assert "volunteer" not in client.get("/api/v1/me", headers=bearer(tokens)).get_json()["roles"]
    missing = client.delete(
        f"/api/v1/communities/{community}/volunteers/{tokens['user']['id']}", headers=staff
    )
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "VOLUNTEER_NOT_FOUND")


def test_staff_register_only_their_own_residents_and_others_look_unknown(
    app, client, login_user, login_staff, make_staff, org_tree
):
    # F5 of the security review: C2's staff registered any user id, read back a C1 resident's nickname,
    # masked phone and community, and blocked C1 from registering them.
    from server.db import db
    from server.users.models import User

    tokens = _user(client, login_user, org_tree)
    user_id = tokens["user"]["id"]
    c1 = bearer(login_staff(make_staff(org="C1")))
    c2 = bearer(login_staff(make_staff(org="C2")))
    hijack = client.post(
        f"/api/v1/communities/{org_tree['C2'].id}/volunteers", json={"user_id": user_id}, headers=c2
    )
    unknown = client.post(
        f"/api/v1/communities/{org_tree['C2'].id}/volunteers", json={"user_id": 987654}, headers=c2
    )
    assert (hijack.status_code, hijack.get_json()["error"]["code"]) == (404, "USER_NOT_FOUND")
    assert "nickname" not in str(hijack.get_json()) and unknown.status_code == 404
    with app.app_context():
        assert db.session.get_one(User, user_id).volunteer_community_id is None  # nothing written
    own = client.post(
        f"/api/v1/communities/{org_tree['C1'].id}/volunteers", json={"user_id": user_id}, headers=c1
    )
    assert own.status_code == 200


def test_a_volunteer_of_one_community_is_not_silently_moved(
    app, client, login_user, login_staff, make_staff, org_tree
):
    from server.db import db
    from server.users.models import User

    tokens = _user(client, login_user, org_tree)  # lives in C1
    user_id = tokens["user"]["id"]
    with app.app_context():
        db.session.get_one(User, user_id).party_community_id = org_tree["C2"].id  # reported to C2
        db.session.commit()
    c1 = bearer(login_staff(make_staff(org="C1")))
    c2 = bearer(login_staff(make_staff(org="C2")))
    client.post(f"/api/v1/communities/{org_tree['C1'].id}/volunteers", json={"user_id": user_id}, headers=c1)
    moved = client.post(
        f"/api/v1/communities/{org_tree['C2'].id}/volunteers", json={"user_id": user_id}, headers=c2
    )
    assert (moved.status_code, moved.get_json()["error"]["code"]) == (409, "VOLUNTEER_ELSEWHERE")


def test_only_staff_of_the_community_manage_its_volunteers(
    client, login_user, login_staff, make_staff, org_tree
):
    tokens = _user(client, login_user, org_tree)
    path = f"/api/v1/communities/{org_tree['C1'].id}/volunteers"
    other = bearer(login_staff(make_staff(org="C3")))
    assert client.post(path, json={"user_id": tokens["user"]["id"]}, headers=other).status_code == 403
    assert (
        client.post(path, json={"user_id": tokens["user"]["id"]}, headers=bearer(tokens)).status_code == 403
    )
    assert client.get(path, headers=other).status_code == 403
    unknown = client.post(path, json={"user_id": 987654}, headers=bearer(login_staff(make_staff(org="C1"))))
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "USER_NOT_FOUND")
