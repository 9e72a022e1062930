"""The audit log: one append-only table of sensitive reads and writes, an admin console page, retention."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Hang the audit page on the console and declare the retention job."""
    from server.audit import console, jobs  # noqa: F401  (jobs declares the periodic purge)

    console.init_app(app)
