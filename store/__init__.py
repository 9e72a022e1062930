"""The points-exchange supermarket (积分兑换超市): goods, redemptions, approval, pickup."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes, console pages, jobs and demo data of the supermarket."""
    from store import console, jobs  # noqa: F401  (jobs declares the periodic jobs)
    from store.blueprint import blp
    from store.demo import seed_demo_store

    app.extensions["linli_api"].register_blueprint(blp)
    console.init_app(app)
    app.extensions.setdefault("linli_demo_seeders", []).append(seed_demo_store)
