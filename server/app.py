"""The app factory: the composition root, the only place in server/ that imports feature packages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import checkin
import points
import reports
import store
import wishes
from server import audit, cli, console, db, errors, extensions, files, inputs, worker
from server.auth import console as auth_console
from server.config import Settings
from server.notifications import console as notifications_console
from server.users import console as users_console
from server.wechat import factory as wechat


def create_app(config_override: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with ``config_override`` on top (tests)."""
    settings = Settings.from_env().with_overrides(config_override)
    settings.validate()

    app = Flask(__name__, static_folder="static")
    app.config.update(settings.flask_config())
    app.config.update(config_override or {})
    app.json = extensions.JSONProvider(app)  # Chinese as is; Decimal as a number
    Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:  # reverse proxies in front (nginx): their X-Forwarded-For/-Proto give address and scheme
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO)

    db.init_app(app)
    extensions.init_migrate(app)
    extensions.init_redis(app)
    extensions.init_limiter(app)
    extensions.init_api(app)
    errors.init_app(app)
    inputs.init_app(app)
    wechat.init_app(app)
    cli.init_app(app)
    worker.init_app(app)
    register_blueprints(app)
    files.init_app(app)
    console.init_app(app)
    audit.init_app(app)
    users_console.init_app(app)
    auth_console.init_app(app)
    notifications_console.init_app(app)
    points.init_app(app)
    store.init_app(app)
    checkin.init_app(app)
    wishes.init_app(app)
    reports.init_app(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Routes of the core, then one line per feature package."""
    from server import health
    from server.auth.blueprint import blp as auth_blp
    from server.notifications import jobs as notification_jobs  # noqa: F401  (declares the periodic jobs)
    from server.notifications.blueprint import blp as notifications_blp
    from server.orgs.blueprint import blp as orgs_blp
    from server.startup.blueprint import blp as startup_blp
    from server.users.blueprint import blp as users_blp
    from server.users.volunteer_blueprint import blp as volunteers_blp

    app.extensions["linli_api"].register_blueprint(health.bp)
    api = app.extensions["linli_api"]
    api.register_blueprint(auth_blp)
    api.register_blueprint(users_blp)
    api.register_blueprint(volunteers_blp)
    api.register_blueprint(orgs_blp)
    api.register_blueprint(notifications_blp)
    api.register_blueprint(startup_blp)
