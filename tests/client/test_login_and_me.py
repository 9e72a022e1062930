"""Stories of logging in: wx.login, choosing a community, binding the phone, 党员报到, subscribe grants, and
tokens that expire while four requests are in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.client.conftest import body_of


def test_a_resident_logs_in_picks_a_community_and_binds_her_phone(new_phone, org_tree, wechat_fake):
    phone = new_phone("alice")
    assert phone.config["coord_type"] == "gcj02"  # read at launch, before any login

    # The login answer is lost. The code went to WeChat already, so the resend with the same code is
    # refused; the client asks wx.login for a fresh code and gets in.
    phone.wx.lose_answer("POST", "/api/v1/auth/wechat")
    login = phone.login()
    assert login.tries == ["lost", 401, 200]
    refused = phone.wx.sent("POST", "/api/v1/auth/wechat")[1]
    assert refused.body == phone.wx.sent("POST", "/api/v1/auth/wechat")[0].body  # the same code, resent
    assert body_of(login)["user"]["community_id"] is None
    assert wechat_fake.state.calls["/sns/jscode2session"] == 3

    communities = phone.get("/communities")
    names = {c["name"]: c["id"] for c in body_of(communities)["items"]}
    assert names["一社区"] == org_tree["C1"].id
    chosen = phone.patch("/me", {"nickname": "爱丽丝", "community_id": names["一社区"]})
    assert (chosen.status, body_of(chosen)["nickname"], body_of(chosen)["community_id"]) == (
        200,
        "爱丽丝",
        org_tree["C1"].id,
    )

    # She taps 绑定手机号; WeChat gives the button a one-use code; the answer is lost and the resend of the
    # spent code answers the first answer again (the server keeps it under the code's hash).
    tap = phone.wx.get_phone_number_tap()
    phone.wx.lose_answer("POST", "/api/v1/me/phone")
    bound = phone.post("/me/phone", {"code": tap["detail"]["code"]})
    assert (bound.tries, bound.replayed) == (["lost", 200], True)
    assert body_of(bound) == phone.wx.lost_answer("POST", "/api/v1/me/phone").answered_json()
    me = body_of(phone.get("/me"))
    assert me["phone_masked"] is not None and me["phone_masked"][3:7] == "****"

    # A second tap (a fresh code) binds again and answers 200; a refused permission sends nothing.
    again = phone.post("/me/phone", {"code": phone.wx.get_phone_number_tap()["detail"]["code"]})
    assert (again.status, body_of(again)["phone_masked"]) == (200, me["phone_masked"])
    assert "code" not in phone.wx.get_phone_number_tap(allow=False)["detail"]


def test_a_party_member_reports_and_reads_her_report_back(resident, desk, org_tree, run_worker):
    phone = resident("bob", nickname="老鲍")
    never = phone.get("/me/party-report")
    assert (never.status, never.code) == (404, "PARTY_REPORT_NOT_FOUND")

    report = {"community_id": org_tree["C1"].id, "branch": "某公司第一党支部", "employer": "某公司"}
    phone.wx.lose_answer("POST", "/api/v1/me/party-report")
    sent = phone.post("/me/party-report", report)
    assert (sent.tries, sent.replayed) == (["lost", 201], True)
    keys = {e.header["Idempotency-Key"] for e in phone.wx.sent("POST", "/api/v1/me/party-report")}
    assert len(keys) == 1  # the resend carried the first key
    assert body_of(sent)["status"] == "pending"

    shown = body_of(phone.get("/me/party-report"))  # what 我的报到 shows after a restart: 审核中
    assert (shown["id"], shown["status"], shown["reason"]) == (body_of(sent)["id"], "pending", None)
    assert shown["community"] and shown["community_id"] == org_tree["C1"].id

    staff = desk("C1")
    queue = body_of(staff.get("/party-reports", status="pending"))["items"]
    assert [r["id"] for r in queue] == [shown["id"]]
    assert staff.post(f"/party-reports/{shown['id']}/approve").status == 200

    decided = body_of(phone.get("/me/party-report"))
    assert decided["status"] == "approved" and decided["decided_at"]
    assert body_of(phone.get("/me"))["party_member"] is True
    run_worker()
    inbox = body_of(phone.get("/me/notifications"))["items"]
    assert [n["event"] for n in inbox] == ["party_report.approved"]


def test_a_subscribe_tap_reported_twice_counts_once(resident):
    phone = resident("carol")
    moment = phone.config["subscribe_moments"]["wish.post"]  # what to ask for before 发布心愿
    assert 1 <= len(moment) <= 3
    first, *rest = moment
    phone.wx.subscribe_dialog = {first: "accept", **dict.fromkeys(rest, "reject")}
    result = phone.wx.requestSubscribeMessage(moment)
    assert result == {
        "errMsg": "requestSubscribeMessage:ok",
        first: "accept",
        **dict.fromkeys(rest, "reject"),
    }

    phone.wx.lose_answer("POST", "/api/v1/me/subscriptions")
    reported = phone.post("/me/subscriptions", result)  # the result object as WeChat gave it
    assert (reported.tries, reported.replayed) == (["lost", 200], True)
    assert body_of(reported)["grants"] == {first: 1}
    assert body_of(phone.get("/me/subscriptions"))["grants"] == {first: 1}

    # The next tap is a new grant; a banned template is dropped.
    phone.wx.banned_templates = set(rest)
    later = phone.post("/me/subscriptions", phone.wx.requestSubscribeMessage(moment))
    assert (later.status, later.replayed) == (200, False)
    assert body_of(phone.get("/me/subscriptions"))["grants"] == {first: 2}


@pytest.mark.postgres  # parallel refreshes queue on the refresh token's row lock
def test_tokens_expiring_under_four_parallel_requests_never_log_the_phone_out(
    app, new_phone, clocks, org_tree
):
    phone = new_phone("dave")
    life = timedelta(seconds=int(app.config["ACCESS_TOKEN_TTL_SECONDS"]))
    clocks.rewind(life + timedelta(minutes=10))
    assert phone.login().status == 200  # she logged in 2 h 10 min ago, then closed the app
    clocks.advance(life + timedelta(minutes=10))  # she opens it again now: the token has expired

    held = phone.tokens
    assert held is not None
    answers = phone.at_once(
        [
            lambda p: p.get("/me"),
            lambda p: p.get("/me/points"),
            lambda p: p.get("/me/notifications"),
            lambda p: p.get("/activities"),
        ]
    )
    assert [a.tries for a in answers] == [[401, 200]] * 4
    refused = [e.answered_json()["error"]["code"] for e in phone.wx.log if e.seen == 401]
    assert refused == ["TOKEN_EXPIRED_LOGIN"] * 4
    assert len(phone.refreshes) == 4 and all(r.status == 200 for r in phone.refreshes)
    assert len({r.pair for r in phone.refreshes}) == 1  # all four got the same pair
    assert phone.logins == 1  # never sent back to wx.login
    assert phone.tokens is not None and phone.tokens["refresh_token"] != held["refresh_token"]

    # The pair goes on working, and the next refresh on the chain works too.
    assert phone.patch("/me", {"community_id": org_tree["C1"].id}).tries == [200]
    assert (
        phone.post("/auth/refresh", {"refresh_token": phone.tokens["refresh_token"]}, auth=False).status
        == 200
    )
