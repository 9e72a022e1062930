"""Flask CLI commands: org, staff, seed-demo, dev."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from server.db import db
from server.errors import MESSAGES, AppError
from server.orgs.models import ORG_KINDS
from server.users.models import STAFF_ROLES, StaffAccount
from server.wechat import factory as wechat


@contextmanager
def cli_transaction() -> Iterator[None]:
    """One transaction per command: commit on success, roll back and exit 1 on a refused input."""
    try:
        yield
        db.session.commit()
    except AppError as exc:
        db.session.rollback()
        zh, en = MESSAGES.get(exc.code, (exc.code, exc.code))
        raise click.ClickException(f"{exc.code}: {zh} / {en} {exc.details or ''}".strip()) from exc
    except Exception:
        db.session.rollback()
        raise


org_group = click.Group("org", help="Manage the org tree (区 → 街道 → 社区 → 网格).")
staff_group = click.Group("staff", help="Manage console accounts.")


@org_group.command("create")
@click.option("--kind", type=click.Choice(ORG_KINDS), required=True)
@click.option("--name", required=True)
@click.option("--code", required=True, help="Unique code, e.g. C01")
@click.option("--parent", "parent_code", default=None, help="Code of the parent unit")
@with_appcontext
def org_create(kind: str, name: str, code: str, parent_code: str | None) -> None:
    """Add an org unit under its parent."""
    from server.orgs.services import create_org

    with cli_transaction():
        org = create_org(kind, name, code, parent_code)
    click.echo(f"created {org.kind} {org.code} {org.name} (id {org.id})")


@staff_group.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True, help="At least 8 characters")
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
@click.option("--org", "org_code", required=True, help="Code of the org unit this account looks after")
@click.option("--name", "display_name", default="")
@with_appcontext
def staff_create(username: str, password: str, role: str, org_code: str, display_name: str) -> None:
    """Add a console account scoped to an org unit and everything below it."""
    from server.users.services import create_staff

    with cli_transaction():
        staff = create_staff(username, password, role, org_code, display_name)
    click.echo(f"created {staff.role} {staff.username} for {org_code} (id {staff.id})")


def _staff_named(username: str) -> StaffAccount:
    from sqlalchemy import select

    staff = db.session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()
    if staff is None:
        raise click.ClickException(f"no staff account {username}")
    return staff


@staff_group.command("unlock")
@click.argument("username")
@with_appcontext
def staff_unlock(username: str) -> None:
    """Make a one-time unlock code (30 minutes) for an account that asks for one; printed once."""
    from server.auth.services import create_unlock_code

    with cli_transaction():
        staff = _staff_named(username)
        code = create_unlock_code(None, staff)
        needed = staff.unlock_required
    click.echo(f"unlock code for {username}: {code} (30 minutes, once; tell them by phone)")
    if not needed:
        click.echo("note: this account does not need a code right now")


@staff_group.command("set-password")
@click.argument("username")
@click.password_option("--password", help="At least 8 characters (asked for when not given)")
@with_appcontext
def staff_set_password(username: str, password: str) -> None:
    """Set an account's password: its console sessions, access and refresh tokens all end."""
    from server.auth.services import set_password

    with cli_transaction():
        set_password(_staff_named(username), password)
    click.echo(f"password of {username} set; every login of the account ended")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create (once) a demo district, street, two communities, an admin, a staff login and residents."""
    from server.seed import seed_demo_data

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("seed-demo refuses to run in production")
    with cli_transaction():
        lines = seed_demo_data()
    for line in lines:
        click.echo(line)


def _serve_fake_wechat(host: str, port: int) -> Callable[[], None]:
    """Serve the built-in fake WeChat in a thread; return a function that stops it."""
    from server.wechat.fake import create_fake_wechat, serve_fake_wechat

    server = serve_fake_wechat(
        create_fake_wechat(current_app.config["WECHAT_APPID"], current_app.config["WECHAT_SECRET"]),
        host,
        port,
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="fake-wechat").start()
    return server.shutdown


@click.command("dev")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--fake-wechat-port", default=5001, type=int)
@with_appcontext
def dev(host: str, port: int, fake_wechat_port: int) -> None:
    """Serve the API for local use, with the fake WeChat when no real WECHAT_APPID is set."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not os.environ.get("WECHAT_APPID"):
        fake_base = f"http://127.0.0.1:{fake_wechat_port}"
        app.config["WECHAT_API_BASE"] = os.environ["WECHAT_API_BASE"] = fake_base  # the worker's too
        wechat.init_app(app)
        _serve_fake_wechat("127.0.0.1", fake_wechat_port)
        click.echo(f" * fake WeChat on {fake_base} (any code logs in, e.g. alice.1)")
    click.echo(f" * database: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    click.echo(f" * API docs: http://{host}:{port}/api/docs")
    click.echo(f" * staff console: http://{host}:{port}/console/ (staff / linli-staff-demo)")
    db.session.remove()  # the server's threads open their own sessions
    worker = _start_jobs(app)
    from werkzeug.serving import run_simple

    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)


def _start_jobs(app: Flask) -> subprocess.Popen[bytes] | None:
    """With Redis: an RQ worker process beside the server. Without: periodic jobs on a thread here."""
    if app.config.get("REDIS_URL"):
        click.echo(" * RQ worker started beside the server (queues high, default, low; with scheduler)")
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"], env=dict(os.environ)
        )
    from server.jobs import run_periodic_inline

    click.echo(" * no REDIS_URL: jobs run in-process")
    run_periodic_inline(app, threading.Event())
    return None


def init_app(app: Flask) -> None:
    """Register the commands on ``flask --app wsgi``."""
    for command in (org_group, staff_group, seed_demo, dev):
        app.cli.add_command(command)
