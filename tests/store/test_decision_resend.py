"""Resent store answers after a lost one: a request, a staff approval or rejection and a member's
cancellation answer the first answer again (``Idempotency-Replayed: true``); another staff account, or a
resend past two minutes, still gets REDEMPTION_DECIDED; nothing moves twice."""

from datetime import timedelta

import pytest

from points.verify import verify_ledger
from tests.conftest import bearer, points_of
from tests.store.flows import redeem

DECISION_RESEND_SECONDS = 120  # store.services.DECISION_RESEND_SECONDS


@pytest.fixture
def desk(make_staff, login_staff):
    """The Authorization header of one staff account of C1."""
    return bearer(login_staff(make_staff(org="C1")))


@pytest.fixture
def requested(client, item, member):
    """A member's waiting redemption of one item: (its id, the member's tokens)."""
    tokens = member()
    return redeem(client, tokens, item())["id"], tokens


def _post(client, path, headers, **body):
    return client.post(f"/api/v1/redemptions{path}", json=body or None, headers=headers)


def test_a_resent_request_is_marked_replayed(client, item, member):
    tokens = member()
    item_id = item()
    headers = {**bearer(tokens), "Idempotency-Key": "redeem-001"}
    first = client.post("/api/v1/redemptions", json={"item_id": item_id, "quantity": 1}, headers=headers)
    again = client.post("/api/v1/redemptions", json={"item_id": item_id, "quantity": 1}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "Idempotency-Replayed" not in first.headers and again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_the_same_staff_resending_an_approval_gets_it_again_and_nothing_moves(
    app, client, desk, requested, clock
):
    redemption_id, tokens = requested
    first = _post(client, f"/{redemption_id}/approve", desk)
    balance = points_of(client, tokens)
    clock.now += timedelta(seconds=DECISION_RESEND_SECONDS - 1)
    again = _post(client, f"/{redemption_id}/approve", desk)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotency-Replayed"] == "true" and "Idempotency-Replayed" not in first.headers
    assert again.get_json() == first.get_json()  # the same pickup code: none issued twice
    assert points_of(client, tokens) == balance
    with app.app_context():
        assert verify_ledger() == []


def test_an_approval_resent_late_or_by_a_colleague_is_redemption_decided(
    client, desk, requested, make_staff, login_staff, clock
):
    redemption_id, _tokens = requested
    assert _post(client, f"/{redemption_id}/approve", desk).status_code == 200
    colleague = _post(client, f"/{redemption_id}/approve", bearer(login_staff(make_staff(org="C1"))))
    assert (colleague.status_code, colleague.get_json()["error"]["code"]) == (409, "REDEMPTION_DECIDED")
    clock.now += timedelta(seconds=DECISION_RESEND_SECONDS + 1)
    late = _post(client, f"/{redemption_id}/approve", desk)
    assert (late.status_code, late.get_json()["error"]["details"]) == (409, {"status": "approved"})
    rejected = _post(client, f"/{redemption_id}/reject", desk, reason="缺货")
    assert (rejected.status_code, rejected.get_json()["error"]["code"]) == (409, "REDEMPTION_DECIDED")


def test_a_resent_rejection_answers_again_but_another_reason_is_refused(app, client, desk, requested):
    redemption_id, tokens = requested
    first = _post(client, f"/{redemption_id}/reject", desk, reason="本周缺货")
    again = _post(client, f"/{redemption_id}/reject", desk, reason="本周缺货")
    assert (again.status_code, again.headers["Idempotency-Replayed"]) == (200, "true")
    assert again.get_json() == first.get_json()
    other = _post(client, f"/{redemption_id}/reject", desk, reason="另一个理由")
    assert (other.status_code, other.get_json()["error"]["code"]) == (409, "REDEMPTION_DECIDED")
    approve = _post(client, f"/{redemption_id}/approve", desk)
    assert (approve.status_code, approve.get_json()["error"]["code"]) == (409, "REDEMPTION_DECIDED")
    assert points_of(client, tokens)["held"] == 0
    with app.app_context():
        assert verify_ledger() == []


def test_a_resent_cancellation_answers_the_cancellation(app, client, requested):
    redemption_id, tokens = requested
    first = _post(client, f"/{redemption_id}/cancel", bearer(tokens))
    again = _post(client, f"/{redemption_id}/cancel", bearer(tokens))
    assert (first.status_code, again.status_code, again.headers["Idempotency-Replayed"]) == (200, 200, "true")
    assert again.get_json() == first.get_json()
    assert points_of(client, tokens)["held"] == 0
    with app.app_context():
        assert verify_ledger() == []
