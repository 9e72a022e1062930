"""POST /api/v1/files and GET /files/<key>: type by content, limits, metadata stripped, served safely."""

import hashlib
import io

import pytest
from PIL import Image, ImageCms, MpoImagePlugin, PngImagePlugin

from server.db import db
from server.files import services
from server.files.models import StoredFile
from server.files.services import MAX_PIXELS
from tests.conftest import bearer
from tests.files.images import gps_exif, halves_bytes, image_bytes, mpo_bytes, noise_bytes, png_claiming

EXIF_MARKER = b"Exif\x00\x00"


def stored_row(app, file_id):
    with app.app_context():
        row = db.session.get(StoredFile, file_id)
        db.session.expunge(row)
        return row


def download(client, body):
    response = client.get(body["url"])
    assert response.status_code == 200, response.get_json()
    return response


def reopen(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- what is accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("JPEG", "image/jpeg", ".jpg"), ("PNG", "image/png", ".png"), ("WEBP", "image/webp", ".webp")],
)
def test_jpeg_png_and_webp_images_are_stored_and_described(app, upload, alice, fmt, content_type, extension):
    response = upload(alice, image_bytes(fmt, size=(30, 20)), filename="photo.bin", content_type="x/y")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "url", "content_type", "width", "height", "size_bytes"}
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == (30, 20)
    assert body["url"].startswith("/files/") and body["url"].endswith(extension)
    row = stored_row(app, body["id"])
    assert row.owner_user_id == alice["user"]["id"] and row.owner_staff_id is None
    assert f"/files/{row.key}" == body["url"]
    assert len(row.key) <= 64 and row.size_bytes == body["size_bytes"]


def test_a_png_sent_as_a_jpeg_named_photo_jpg_is_stored_as_a_png(client, upload, alice):
    response = upload(alice, image_bytes("PNG"), filename="photo.jpg", content_type="image/jpeg")

    assert response.status_code == 201
    body = response.get_json()
    assert body["content_type"] == "image/png"
    assert body["url"].endswith(".png")
    served = download(client, body)
    assert served.mimetype == "image/png"
    assert served.data.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("text", "这不是图片，只是文字。".encode()),
        ("gif", image_bytes("GIF", mode="P", color=1)),
        ("pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
        ("bmp", image_bytes("BMP")),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ],
)
def test_other_types_under_a_jpeg_name_are_refused_with_415(app, upload, alice, name, data):
    response = upload(alice, data, filename="photo.jpg", content_type="image/jpeg")

    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert error["details"]["allowed"] == ["image/jpeg", "image/png", "image/webp"]
    with app.app_context():
        assert db.session.query(StoredFile).count() == 0


def test_a_multi_picture_jpeg_from_a_phone_is_stored_as_its_first_picture_in_a_plain_jpeg(
    app, client, upload, alice
):
    original = mpo_bytes(exif=gps_exif())
    with Image.open(io.BytesIO(original)) as premise:
        assert isinstance(premise, MpoImagePlugin.MpoImageFile)
        assert premise.n_frames == 2
    assert b"PhoneMaker" in original and b"MPF\x00" in original

    response = upload(alice, original)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 20, 10)
    assert body["url"].endswith(".jpg")
    served = download(client, body).data
    image = reopen(served)
    assert (image.format, getattr(image, "n_frames", 1)) == ("JPEG", 1)
    red, _, blue = image.convert("RGB").getpixel((10, 5))
    assert red > 200 and blue < 60  # the first picture, not the second
    assert image.getexif() == {}
    for secret in (EXIF_MARKER, b"PhoneMaker", b"MPF\x00"):
        assert secret not in served


def test_a_variant_the_plugins_name_but_that_is_not_stored_is_a_415_not_a_500(
    app, upload, alice, monkeypatch
):
    monkeypatch.delitem(services.STORED_AS, "MPO")  # as if Pillow named a JPEG variant we do not know

    response = upload(alice, mpo_bytes())

    assert response.status_code == 415
    error = response.get_json()["error"]
    assert (error["code"], error["details"]) == (
        "FILE_TYPE_NOT_ALLOWED",
        {"allowed": ["image/jpeg", "image/png", "image/webp"]},
    )
    with app.app_context():
        assert db.session.query(StoredFile).count() == 0


def test_a_staff_account_can_upload_and_owns_the_file(app, upload, make_staff, login_staff):
    staff = make_staff()
    response = upload(login_staff(staff), image_bytes())

    assert response.status_code == 201
    row = stored_row(app, response.get_json()["id"])
    assert row.owner_staff_id == staff.id and row.owner_user_id is None


# --- what is refused ----------------------------------------------------------------------------


def test_an_anonymous_upload_is_refused_with_401(upload, files_storage):
    response = upload(None, image_bytes())

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert not files_storage.root.exists() or not any(files_storage.root.rglob("*.*"))


def test_a_request_without_the_file_field_is_refused_with_file_required(client, upload, alice):
    wrong_field = upload(alice, image_bytes(), field="image")
    as_json = client.post("/api/v1/files", json={"file": "photo.jpg"}, headers=bearer(alice))
    empty = upload(alice, b"")

    for response in (wrong_field, as_json, empty):
        assert response.status_code == 422
        assert response.get_json()["error"]["code"] == "FILE_REQUIRED"


def test_a_file_over_files_max_bytes_is_refused_with_413_and_one_at_the_limit_is_accepted(
    app, upload, alice, monkeypatch
):
    data = noise_bytes("PNG", size=(40, 40))
    monkeypatch.setitem(app.config, "FILES_MAX_BYTES", len(data) - 1)

    too_big = upload(alice, data)

    assert too_big.status_code == 413
    assert too_big.get_json()["error"] == {
        "code": "FILE_TOO_LARGE",
        "message": too_big.get_json()["error"]["message"],
        "details": {"max_bytes": len(data) - 1},
    }
    monkeypatch.setitem(app.config, "FILES_MAX_BYTES", len(data))
    assert upload(alice, data).status_code == 201


def test_a_body_over_max_content_length_is_refused_before_it_is_read(app, upload, alice, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10_000)

    response = upload(alice, noise_bytes("PNG", size=(100, 100)))

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_truncated_jpeg_is_refused_as_invalid(upload, alice):
    data = noise_bytes("JPEG", size=(200, 200))

    response = upload(alice, data[: len(data) * 2 // 3])

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "FILE_INVALID"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,  # a JPEG signature, then nothing sensible
        image_bytes("PNG")[:40],  # a PNG cut inside its header chunks
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,  # a WebP container with a broken frame
    ],
    ids=["jpeg", "png", "webp"],
)
def test_a_damaged_image_of_an_allowed_type_is_invalid_rather_than_of_another_type(upload, alice, data):
    response = upload(alice, data)

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "FILE_INVALID"


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, 6000),  # 48 MP: over our limit, under Pillow's
        (10_000, 10_000),  # 100 MP: Pillow warns (an error under pytest's filterwarnings)
        (20_000, 20_000),  # 400 MP: Pillow raises DecompressionBombError
    ],
)
def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded(app, upload, alice, width, height):
    response = upload(alice, png_claiming(width, height), filename="bomb.png", content_type="image/png")

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "IMAGE_TOO_LARGE"
    assert error["details"] == {"max_pixels": app.config["FILES_MAX_LOSSLESS_PIXELS"]}  # a PNG's cap


def test_a_jpeg_over_max_pixels_is_refused_with_the_jpeg_cap(upload, alice):
    header = image_bytes("JPEG", size=(8, 8))
    sof = header.index(b"\xff\xc0")  # the frame header: height then width, 2 bytes each
    claiming = header[: sof + 5] + (6000).to_bytes(2, "big") + (8000).to_bytes(2, "big") + header[sof + 9 :]

    response = upload(alice, claiming)

    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"max_pixels": MAX_PIXELS}


def test_a_real_png_that_inflates_to_48_megapixels_is_refused(upload, alice):
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")
    assert len(out.getvalue()) < 100_000  # small on the wire, huge once decoded

    response = upload(alice, out.getvalue(), filename="bomb.png", content_type="image/png")

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "IMAGE_TOO_LARGE"


def test_uploads_are_rate_limited_per_caller(app, upload, alice, login_user, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_UPLOAD_RATE_LIMIT", "2 per hour")
    bob = login_user("bob")

    statuses = [upload(alice, image_bytes()).status_code for _ in range(3)]
    limited = upload(alice, image_bytes())

    assert statuses == [201, 201, 429]
    assert limited.get_json()["error"]["code"] == "RATE_LIMITED"
    assert upload(bob, image_bytes()).status_code == 201


# --- what is stored -----------------------------------------------------------------------------


def test_gps_and_every_other_exif_field_are_removed_from_a_jpeg(client, upload, alice):
    original = halves_bytes("JPEG", exif=gps_exif())
    assert reopen(original).getexif().get_ifd(0x8825)[2] == (39.0, 54.0, 26.0)  # the test's premise

    body = upload(alice, original).get_json()
    served = download(client, body).data

    assert reopen(served).getexif() == {}
    assert reopen(served).getexif().get_ifd(0x8825) == {}
    assert EXIF_MARKER not in served
    assert b"PhoneMaker" not in served


def test_comments_xmp_text_chunks_and_icc_profiles_are_removed(client, upload, alice):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret-xmp/></x:xmpmeta>'
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret-text")
    sources = [
        (image_bytes("JPEG", comment=b"secret-comment", xmp=xmp, icc_profile=srgb), b"secret-comment"),
        (image_bytes("PNG", pnginfo=text, exif=gps_exif(), icc_profile=srgb), b"secret-text"),
        (image_bytes("WEBP", exif=gps_exif(), xmp=xmp, icc_profile=srgb), b"secret-xmp"),
    ]

    for source, planted in sources:
        assert planted in source and "icc_profile" in reopen(source).info  # the test's premise
        served = download(client, upload(alice, source).get_json()).data
        image = reopen(served)
        assert image.getexif() == {}
        assert not set(image.info) & {"exif", "xmp", "icc_profile", "comment", "Comment", "XML:com.adobe.xmp"}
        for secret in (b"secret-comment", b"secret-xmp", b"secret-text", EXIF_MARKER, b"PhoneMaker"):
            assert secret not in served


def test_the_exif_orientation_is_applied_to_the_pixels(client, upload, alice):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; display rotated 90° clockwise

    body = upload(alice, halves_bytes("JPEG", exif=exif)).get_json()

    assert (body["width"], body["height"]) == (10, 20)
    image = reopen(download(client, body).data).convert("RGB")
    assert image.size == (10, 20)
    red, _, blue = image.getpixel((5, 3))
    assert red > 200 and blue < 60  # the left (red) half is now on top
    red, _, blue = image.getpixel((5, 16))
    assert blue > 200 and red < 60


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_image_longer_than_files_max_side_is_downscaled_keeping_its_proportions(
    app, client, upload, alice, monkeypatch, fmt
):
    monkeypatch.setitem(app.config, "FILES_MAX_SIDE", 64)

    body = upload(alice, image_bytes(fmt, size=(1000, 500))).get_json()

    assert (body["width"], body["height"]) == (64, 32)
    assert reopen(download(client, body).data).size == (64, 32)


def test_an_image_within_files_max_side_keeps_its_size(upload, alice):
    body = upload(alice, image_bytes("PNG", size=(2560, 3))).get_json()

    assert (body["width"], body["height"]) == (2560, 3)


@pytest.mark.parametrize(
    ("fmt", "mode", "save", "stored_mode"),
    [
        ("JPEG", "CMYK", {}, "RGB"),
        ("JPEG", "L", {}, "L"),
        ("PNG", "P", {"transparency": 0}, "RGBA"),
        ("PNG", "P", {}, "RGB"),
        ("PNG", "LA", {}, "LA"),
        ("PNG", "RGBA", {}, "RGBA"),
        ("PNG", "I;16", {}, "L"),
        ("PNG", "1", {}, "L"),
        ("WEBP", "RGBA", {}, "RGBA"),
    ],
)
def test_colour_modes_are_stored_in_a_mode_their_format_supports(
    client, upload, alice, fmt, mode, save, stored_mode
):
    body = upload(alice, image_bytes(fmt, mode=mode, **save)).get_json()

    assert reopen(download(client, body).data).mode == stored_mode


def test_the_stored_digest_and_size_are_those_of_the_served_bytes(app, client, upload, alice):
    body = upload(alice, halves_bytes("JPEG", exif=gps_exif())).get_json()

    served = download(client, body).data
    row = stored_row(app, body["id"])
    assert row.sha256 == hashlib.sha256(served).hexdigest()
    assert row.size_bytes == len(served) == body["size_bytes"]
    assert (row.width, row.height) == reopen(served).size


def test_two_uploads_of_the_same_image_get_different_unguessable_keys(upload, alice):
    first = upload(alice, image_bytes()).get_json()
    second = upload(alice, image_bytes()).get_json()

    assert first["id"] != second["id"]
    assert first["url"] != second["url"]
    assert len(first["url"].removeprefix("/files/").removesuffix(".jpg")) >= 24


# --- downloads ----------------------------------------------------------------------------------


def test_the_download_is_public_with_its_type_nosniff_and_cached_forever(client, upload, alice):
    body = upload(alice, image_bytes("WEBP")).get_json()

    response = client.get(body["url"])  # no Authorization header: <image> tags cannot send one

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(response.data) == body["size_bytes"]


def test_a_download_with_the_etag_is_answered_not_modified(client, upload, alice):
    body = upload(alice, image_bytes()).get_json()
    etag = client.get(body["url"]).headers["ETag"]

    response = client.get(body["url"], headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""


def test_an_unknown_key_is_404_file_not_found(client, files_storage):
    response = client.get("/files/AAAAAAAAAAAAAAAAAAAAAAAA.jpg")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "FILE_NOT_FOUND"


@pytest.mark.parametrize(
    "path",
    ["/files/..%2Fsecret", "/files/..%2F..%2Fsecret", "/files/%2E%2E/secret", "/files/x/../../secret"],
)
def test_path_traversal_keys_are_404_and_never_reach_the_disk(client, files_storage, tmp_path, path):
    (tmp_path / "secret").write_text("top secret")
    files_storage.root.mkdir(parents=True, exist_ok=True)
    (files_storage.root / "secret").write_text("top secret")

    response = client.get(path)

    assert response.status_code == 404
    assert b"top secret" not in response.data


def test_a_file_whose_bytes_are_gone_is_404_not_an_error(app, client, upload, alice, files_storage):
    body = upload(alice, image_bytes()).get_json()
    files_storage.delete(body["url"].removeprefix("/files/"))

    response = client.get(body["url"])

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "FILE_NOT_FOUND"


def test_errors_speak_english_on_request(upload, alice, client):
    response = client.post(
        "/api/v1/files", json={}, headers={**bearer(alice), "Accept-Language": "en"}
    )  # no multipart at all

    assert response.get_json()["error"]["message"].startswith("Choose an image")


# --- the contract -------------------------------------------------------------------------------


def test_the_upload_is_described_in_openapi_as_multipart_with_bearer_auth(client):
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/files"]["post"]

    assert {"bearerAuth": []} in operation["security"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    if "$ref" in form:
        form = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["file"]["format"] == "binary"
    assert {"201", "413", "415", "422", "429"} <= set(operation["responses"])
