"""Micro-wishes (微心愿): residents post, staff review, party members and volunteers claim and fulfil."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes, console pages, jobs and demo data of wishes."""
    from wishes import jobs  # noqa: F401  (declares the periodic jobs)
    from wishes.blueprint import blp
    from wishes.console import init_app as init_console
    from wishes.demo import seed_demo_wishes

    app.extensions["linli_api"].register_blueprint(blp)
    init_console(app)
    app.extensions.setdefault("linli_demo_seeders", []).append(seed_demo_wishes)
