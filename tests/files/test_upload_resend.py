"""A resent upload (wx.uploadFile after a lost answer) answers the first file and stores no second one."""

from sqlalchemy import func, select

from server.db import db
from server.files.models import StoredFile
from tests.conftest import bearer
from tests.files.images import image_bytes


def stored_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StoredFile))


def send(client, who, data, key):
    import io

    return client.post(
        "/api/v1/files",
        data={"file": (io.BytesIO(data), "tmp_8f2.jpg", "image/jpeg"), "purpose": "wish"},
        content_type="multipart/form-data",  # werkzeug draws a new boundary each time, as a phone does
        headers={**bearer(who), "Idempotency-Key": key},
    )


def test_the_resend_of_an_upload_answers_the_first_file(app, client, alice, files_storage):
    photo = image_bytes("JPEG", size=(40, 30))
    first = send(client, alice, photo, "upload-7f3a")
    again = send(client, alice, photo, "upload-7f3a")

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotency-Replayed"] == "true" and "Idempotency-Replayed" not in first.headers
    assert stored_count(app) == 1


def test_other_bytes_under_the_same_key_are_refused_and_a_new_key_is_a_new_file(
    app, client, alice, files_storage
):
    first = send(client, alice, image_bytes("JPEG", size=(40, 30)), "upload-7f3a")
    other = send(client, alice, image_bytes("PNG", size=(12, 12)), "upload-7f3a")
    assert first.status_code == 201
    assert (other.status_code, other.get_json()["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")

    second = send(client, alice, image_bytes("JPEG", size=(40, 30)), "upload-8b21")
    assert second.status_code == 201 and second.get_json()["id"] != first.get_json()["id"]
    assert stored_count(app) == 2


def test_a_refused_upload_keeps_no_answer_so_the_corrected_resend_is_stored(
    app, client, alice, files_storage
):
    refused = send(client, alice, b"not an image", "upload-9c0d")
    assert refused.status_code == 415
    fixed = send(client, alice, image_bytes("JPEG", size=(40, 30)), "upload-9c0d")
    assert fixed.status_code == 201 and "Idempotency-Replayed" not in fixed.headers
    assert stored_count(app) == 1
