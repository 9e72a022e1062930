"""LocalStorage: keys stay inside the root, writes are atomic, and the app keeps one storage."""

import os
import stat

import pytest

from server.files.storage import EXTENSION_KEY, LocalStorage, storage

KEY = "Zm9vYmFyYmF6cXV4cXV1eA.jpg"
TRAVERSALS = [
    "../secret",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b.jpg",
    "..",
    ".",
    "",
    ".hidden",
    "a\\b",
    "x" * 65,
]


def test_saved_bytes_load_back_and_live_in_a_shard_under_the_root(tmp_path):
    store = LocalStorage(tmp_path)

    store.save(KEY, b"\xff\xd8 bytes", "image/jpeg")

    assert store.load(KEY) == b"\xff\xd8 bytes"
    assert (tmp_path / KEY[:2] / KEY).read_bytes() == b"\xff\xd8 bytes"


def test_a_saved_file_is_readable_by_others_like_a_normal_file(tmp_path):
    store = LocalStorage(tmp_path)

    store.save(KEY, b"x", "image/jpeg")

    assert stat.S_IMODE(os.stat(store.path_for(KEY)).st_mode) == 0o644


def test_saving_again_replaces_the_bytes_and_leaves_no_temporary_file(tmp_path):
    store = LocalStorage(tmp_path)
    store.save(KEY, b"first", "image/jpeg")

    store.save(KEY, b"second", "image/jpeg")

    assert store.load(KEY) == b"second"
    assert [p.name for p in (tmp_path / KEY[:2]).iterdir()] == [KEY]


def test_a_write_that_fails_keeps_the_old_bytes_and_cleans_its_temporary_file(tmp_path, monkeypatch):
    store = LocalStorage(tmp_path)
    store.save(KEY, b"old", "image/jpeg")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save(KEY, b"new, never visible", "image/jpeg")

    monkeypatch.undo()
    assert store.load(KEY) == b"old"
    assert [p.name for p in (tmp_path / KEY[:2]).iterdir()] == [KEY]


def test_a_missing_key_loads_as_none_and_deletes_quietly(tmp_path):
    store = LocalStorage(tmp_path)

    assert store.load(KEY) is None
    store.delete(KEY)


def test_delete_removes_the_bytes(tmp_path):
    store = LocalStorage(tmp_path)
    store.save(KEY, b"x", "image/jpeg")

    store.delete(KEY)

    assert store.load(KEY) is None


@pytest.mark.parametrize("key", TRAVERSALS)
def test_keys_that_could_leave_the_root_are_refused_by_every_operation(tmp_path, key):
    root = tmp_path / "files"
    store = LocalStorage(root)
    (tmp_path / "secret").write_text("outside")

    with pytest.raises(ValueError, match="invalid storage key"):
        store.save(key, b"overwritten", "image/jpeg")
    with pytest.raises(ValueError, match="invalid storage key"):
        store.load(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        store.delete(key)
    assert (tmp_path / "secret").read_text() == "outside"
    assert not root.exists()


def test_the_app_storage_is_a_local_directory_at_files_dir_made_once(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path / "uploads"))
    monkeypatch.delitem(app.extensions, EXTENSION_KEY, raising=False)

    with app.app_context():
        first, second = storage(), storage()

    assert isinstance(first, LocalStorage)
    assert first.root == (tmp_path / "uploads").resolve()
    assert first is second
