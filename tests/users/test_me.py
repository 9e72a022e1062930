"""GET/PATCH /api/v1/me and POST /api/v1/me/phone."""

from server.users.models import User, mask_name, mask_phone
from tests.conftest import bearer


def test_a_resident_changes_nickname_and_community(client, login_user, org_tree):
    tokens = login_user("alice")
    response = client.patch(
        "/api/v1/me", json={"nickname": " 小王 ", "community_id": org_tree["C2"].id}, headers=bearer(tokens)
    )
    assert response.status_code == 200
    me = response.get_json()
    assert me["nickname"] == "小王"
    assert me["community_id"] == org_tree["C2"].id


def test_once_set_the_community_is_not_changed_by_the_profile_and_nothing_else_is_applied(
    client, login_user, org_tree
):
    # F3: the community was self-declared; now a move the new community approves changes it.
    tokens = login_user("alice")
    first = client.patch(
        "/api/v1/me", json={"nickname": "小王", "community_id": org_tree["C1"].id}, headers=bearer(tokens)
    )
    assert first.status_code == 200
    hop = client.patch(
        "/api/v1/me", json={"nickname": "改名", "community_id": org_tree["C2"].id}, headers=bearer(tokens)
    )
    assert hop.status_code == 409
    assert hop.get_json()["error"]["code"] == "COMMUNITY_MOVE_REQUIRED"
    assert hop.get_json()["error"]["details"]["community_id"] == org_tree["C1"].id
    me = client.get("/api/v1/me", headers=bearer(tokens)).get_json()
    assert (me["nickname"], me["community_id"]) == ("小王", org_tree["C1"].id)  # the nickname did not change


def test_sending_the_same_community_again_is_fine(client, login_user, org_tree):
    tokens = login_user("alice")
    body = {"community_id": org_tree["C1"].id}
    assert client.patch("/api/v1/me", json=body, headers=bearer(tokens)).status_code == 200
    again = client.patch("/api/v1/me", json=body | {"nickname": "小王"}, headers=bearer(tokens))
    assert again.status_code == 200
    assert (again.get_json()["community_id"], again.get_json()["nickname"]) == (org_tree["C1"].id, "小王")


def test_the_community_must_be_a_community(client, login_user, org_tree):
    tokens = login_user("alice")
    response = client.patch("/api/v1/me", json={"community_id": org_tree["S1"].id}, headers=bearer(tokens))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "NOT_A_COMMUNITY"
    missing = client.patch("/api/v1/me", json={"community_id": 999999}, headers=bearer(tokens))
    assert missing.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(tokens)).get_json()["community_id"] is None


def test_unknown_fields_are_refused(client, login_user):
    response = client.patch("/api/v1/me", json={"roles": ["admin"]}, headers=bearer(login_user()))
    assert response.status_code == 422
    assert "roles" in response.get_json()["error"]["details"]["fields"]


def test_staff_cannot_patch_a_resident_profile(client, make_staff, login_staff):
    response = client.patch("/api/v1/me", json={"nickname": "x"}, headers=bearer(login_staff(make_staff())))
    assert response.status_code == 403


def test_the_phone_is_bound_from_a_wechat_code_and_only_shown_masked(client, login_user, db_session):
    tokens = login_user("alice")
    response = client.post("/api/v1/me/phone", json={"code": "phone-alice"}, headers=bearer(tokens))
    assert response.status_code == 200
    masked = response.get_json()["phone_masked"]
    stored = db_session.get(User, tokens["user"]["id"]).phone
    assert len(stored) == 11 and stored.startswith("138")
    assert masked == f"{stored[:3]}****{stored[-4:]}"
    assert stored not in response.get_data(as_text=True)


def test_a_bad_phone_code_is_400_and_binds_nothing(client, login_user, db_session):
    tokens = login_user("alice")
    response = client.post("/api/v1/me/phone", json={"code": "invalid-phone"}, headers=bearer(tokens))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "WECHAT_PHONE_CODE_INVALID"
    assert db_session.get(User, tokens["user"]["id"]).phone is None


def test_phone_binding_survives_an_expired_wechat_access_token(client, login_user, wechat_fake):
    tokens = login_user("alice")
    assert client.post("/api/v1/me/phone", json={"code": "p.1"}, headers=bearer(tokens)).status_code == 200
    assert wechat_fake.control("expire-tokens").ok
    response = client.post("/api/v1/me/phone", json={"code": "p.2"}, headers=bearer(tokens))
    assert response.status_code == 200
    assert wechat_fake.state.calls["/cgi-bin/stable_token"] == 2


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李*"
    assert mask_name("") == "匿名"


def test_a_community_id_beyond_the_integer_range_is_a_422_not_a_500(client, login_user):
    # Found by the fuzz run: an id no integer column holds reached PostgreSQL ("integer out of range").
    response = client.patch("/api/v1/me", json={"community_id": 2**31}, headers=bearer(login_user()))
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["community_id"]


def test_the_resend_of_a_phone_code_whose_answer_was_lost_answers_the_same(client, login_user, wechat_fake):
    # WeChat's phone codes work once: without the server remembering its first answer, the phone's resend
    # got WECHAT_PHONE_CODE_INVALID for a number that was bound.
    tokens = login_user("alice")
    first = client.post("/api/v1/me/phone", json={"code": "phone-alice.9"}, headers=bearer(tokens))
    again = client.post("/api/v1/me/phone", json={"code": "phone-alice.9"}, headers=bearer(tokens))
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers["Idempotency-Replayed"] == "true"
    assert wechat_fake.state.calls["/wxa/business/getuserphonenumber"] == 1


def test_someone_elses_used_phone_code_is_still_refused(client, login_user):
    alice, bob = login_user("alice"), login_user("bob")
    assert (
        client.post("/api/v1/me/phone", json={"code": "phone-x.1"}, headers=bearer(alice)).status_code == 200
    )
    stolen = client.post("/api/v1/me/phone", json={"code": "phone-x.1"}, headers=bearer(bob))
    assert (stolen.status_code, stolen.get_json()["error"]["code"]) == (400, "WECHAT_PHONE_CODE_INVALID")
