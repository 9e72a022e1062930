"""Bounded image decoding (issue 16, F8): a lossless pixel cap, bomb-like ratios, decode slots."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageFile

from tests.conftest import bearer
from tests.files.images import sparse_png


def refusal(response):
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    return error["code"], error["details"]


def test_a_png_of_16_1_megapixels_is_refused_under_the_lossless_cap(app, upload, alice):
    data = sparse_png(4100, 3927)  # 16.1 MP

    response = upload(alice, data, filename="big.png", content_type="image/png")

    assert refusal(response) == ("IMAGE_TOO_LARGE", {"max_pixels": app.config["FILES_MAX_LOSSLESS_PIXELS"]})


def test_the_reviews_6320_by_6320_rgba_png_is_refused(upload, alice):
    data = sparse_png(6320, 6320)
    assert len(data) < 200_000  # small on the wire, 160 MB once decoded

    response = upload(alice, data, filename="bigrgba.png", content_type="image/png")

    assert refusal(response)[0] == "IMAGE_TOO_LARGE"


def test_the_lossless_cap_is_the_setting(app, upload, alice, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_MAX_LOSSLESS_PIXELS", 1_000_000)

    over = upload(alice, sparse_png(1001, 1000, noisy_rows=50), filename="a.png", content_type="image/png")
    at = upload(alice, sparse_png(1000, 1000, noisy_rows=50), filename="b.png", content_type="image/png")

    assert refusal(over) == ("IMAGE_TOO_LARGE", {"max_pixels": 1_000_000})
    assert at.status_code == 201, at.get_json()


def test_a_nearly_uniform_9_megapixel_png_is_refused_for_its_pixels_per_byte(upload, alice):
    data = sparse_png(3000, 3000)
    assert 3000 * 3000 / len(data) > 200  # under the pixel cap, but ~225 pixels per byte

    response = upload(alice, data, filename="flat.png", content_type="image/png")

    assert refusal(response) == ("IMAGE_TOO_LARGE", {"max_pixels_per_byte": 100})


def test_a_tall_screenshot_with_plausible_bytes_is_accepted_and_reduced(upload, alice):
    data = sparse_png(1500, 6000, noisy_rows=30)  # 9 MP at ~37 pixels per byte, like a long screenshot

    response = upload(alice, data, filename="shot.png", content_type="image/png")

    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["width"], response.get_json()["height"]) == (640, 2560)


def test_a_4000_by_3000_jpeg_photo_is_accepted_and_resized(upload, alice):
    photo = Image.radial_gradient("L").resize((4000, 3000)).convert("RGB")
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)

    response = upload(alice, out.getvalue())

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 2560, 1920)


def test_at_most_files_decode_slots_images_are_decoded_at_once(app, files_storage, alice, monkeypatch):
    assert app.config["FILES_DECODE_SLOTS"] == 2
    uploads = 4
    lock, everyone_in = threading.Lock(), threading.Event()
    inside = {"now": 0, "most": 0}
    real_load = ImageFile.ImageFile.load

    def counting_load(image):
        with lock:
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
            if inside["now"] == uploads:
                everyone_in.set()
        everyone_in.wait(timeout=1)  # unbounded decoding lets all four in; two slots never do
        try:
            return real_load(image)
        finally:
            with lock:
                inside["now"] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    data = sparse_png(200, 200, noisy_rows=200)

    def post(_: int) -> int:
        response = app.test_client().post(
            "/api/v1/files",
            data={"file": (io.BytesIO(data), "photo.png", "image/png")},
            content_type="multipart/form-data",
            headers=bearer(alice),
        )
        return int(response.status_code)

    with ThreadPoolExecutor(uploads) as pool:
        statuses = list(pool.map(post, range(uploads)))

    assert statuses == [201] * uploads
    assert inside["most"] == 2
