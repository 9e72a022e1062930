"""Console page of notifications health (admins): outbox backlog, failed deliveries, retry."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Hang the notifications health page on the console."""
