"""Where the bytes of uploaded files live: one small interface, a local-directory implementation.

Only ``LocalStorage`` exists today (a directory, ``FILES_DIR``). An S3-compatible store (e.g. a COS or
OSS bucket) is a later step: it implements the same ``Storage`` protocol and ``storage()`` picks it
from the configuration; nothing else changes.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app

EXTENSION_KEY = "linli_files_storage"
# Keys are our own random names (token_urlsafe + extension); anything else is refused outright.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class Storage(Protocol):
    """A flat namespace of immutable blobs addressed by key."""

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing what was there)."""

    def load(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None when there are none."""

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe storage name, else raise ValueError (no paths, no '..')."""
    if not KEY_PATTERN.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


class LocalStorage:
    """Files in a directory, sharded by the key's first two characters; writes are atomic."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        """The file that holds ``key`` (always inside the root)."""
        check_key(key)
        path = (self.root / key[:2] / key).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: check_key already forbids this
            raise ValueError(f"invalid storage key: {key!r}")
        return path

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Write to a temporary file in the same directory, fsync, then rename over the target."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a web server may serve the directory later
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    def load(self, key: str) -> bytes | None:
        """The stored bytes, or None."""
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        self.path_for(key).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def storage() -> Storage:
    """The app's storage, made once from ``FILES_DIR`` and kept in ``app.extensions``."""
    store: Storage | None = current_app.extensions.get(EXTENSION_KEY)
    if store is None:
        store = LocalStorage(current_app.config["FILES_DIR"])
        current_app.extensions[EXTENSION_KEY] = store
    return store
