"""Fixtures of the files tests: a storage directory of the test's own and an upload helper."""

import io
from collections.abc import Callable
from typing import Any

import pytest

from server.files.storage import EXTENSION_KEY, LocalStorage
from tests.conftest import bearer


@pytest.fixture
def files_storage(app, tmp_path, monkeypatch) -> LocalStorage:
    """The app stores into ``tmp_path/files`` during the test (not the instance directory)."""
    store = LocalStorage(tmp_path / "files")
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, store)
    return store


@pytest.fixture
def alice(login_user: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A logged-in resident's token response."""
    return login_user("alice")


@pytest.fixture
def upload(client, files_storage) -> Callable[..., Any]:
    """POST /api/v1/files as ``who`` (tokens or None): ``upload(alice, data, "photo.jpg", "image/jpeg")``."""

    def post(
        who: dict[str, Any] | None,
        data: bytes,
        filename: str = "photo.jpg",
        content_type: str = "image/jpeg",
        field: str = "file",
    ) -> Any:
        headers = bearer(who) if who is not None else {}
        return client.post(
            "/api/v1/files",
            data={field: (io.BytesIO(data), filename, content_type)},
            content_type="multipart/form-data",
            headers=headers,
        )

    return post
