"""What the supermarket's tests do through the API, shared by the service, console and browser tests."""

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server.db import db
from store.models import Redemption
from tests.conftest import bearer


def redeem(client: FlaskClient, tokens: dict[str, Any], item_id: int, quantity: int = 1) -> dict[str, Any]:
    """A member asks for goods; the request must be taken (201); returns the redemption."""
    response = client.post(
        "/api/v1/redemptions", json={"item_id": item_id, "quantity": quantity}, headers=bearer(tokens)
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def status_of(app: Flask, redemption_id: int) -> str:
    """A redemption's status as stored."""
    with app.app_context():
        redemption = db.session.get(Redemption, redemption_id)
        assert redemption is not None
        return redemption.status
