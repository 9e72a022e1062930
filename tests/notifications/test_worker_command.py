"""`flask --app wsgi worker --burst` as a real process, against the run's database and Redis."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from server.db import db
from server.jobs import PERIODIC
from server.notifications.models import Notification
from server.notifications.services import publish

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_the_worker_command_delivers_and_schedules_the_periodic_jobs(app, login_user, wechat_fake, fork):
    if app.extensions.get("linli_redis") is None:
        pytest.skip("needs Redis")
    user_id = login_user("alice")["user"]["id"]
    with app.app_context():
        publish(
            "points.adjusted",
            [user_id],
            {"memo": "人工调整：x +1", "reason": "x", "amount": "+1", "available": 1},
        )
        db.session.commit()
    env = {
        **os.environ,
        "LINLI_ENV": "testing",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "REDIS_PREFIX": app.config["REDIS_PREFIX"],
        "WECHAT_API_BASE": app.config["WECHAT_API_BASE"],
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "worker",
        "--burst",
        *(["--fork"] if fork else []),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603  (a fixed argv: this interpreter running flask worker)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"periodic jobs scheduled: {2 * len(PERIODIC)}" in done.stdout  # the next two slots of each
    with app.app_context():
        [notification] = db.session.scalars(select(Notification)).all()
        assert notification.user_id == user_id
