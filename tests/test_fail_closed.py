"""Fail closed (issue 16, F9): outside testing no app starts on the public key; development makes its own."""

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from server.config import DEFAULT_SECRET_KEY, ConfigError, Settings, prepare_local_environment

ROOT = Path(__file__).resolve().parents[1]


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """The process environment with nothing of Linli's configured (and a throwaway instance directory)."""
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    return {**kept, "LINLI_INSTANCE_DIR": str(tmp_path)}


def test_gunicorn_with_nothing_configured_refuses_to_start(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1", "wsgi:app"],
        cwd=ROOT,
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "SECRET_KEY is the public default" in done.stderr
    assert not (tmp_path / "secret_key").exists()


def test_the_flask_command_runs_as_development_with_a_key_generated_once_under_the_instance_dir(tmp_path):
    environ = {"FLASK_RUN_FROM_CLI": "true", "LINLI_INSTANCE_DIR": str(tmp_path)}

    prepare_local_environment(environ)
    again = {"LINLI_ENV": "development", "LINLI_INSTANCE_DIR": str(tmp_path)}
    prepare_local_environment(again)  # the worker `flask dev` starts, or the next run

    key_file = tmp_path / "secret_key"
    assert environ["LINLI_ENV"] == "development"
    assert environ["SECRET_KEY"] == key_file.read_text().strip() == again["SECRET_KEY"]
    assert len(environ["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Settings.from_env(environ).validate()


def test_a_set_secret_key_or_another_environment_is_left_alone(tmp_path):
    given = {"LINLI_ENV": "development", "SECRET_KEY": "k" * 40, "LINLI_INSTANCE_DIR": str(tmp_path)}
    production = {
        "FLASK_RUN_FROM_CLI": "true",
        "LINLI_ENV": "production",
        "LINLI_INSTANCE_DIR": str(tmp_path),
    }
    server = {"LINLI_INSTANCE_DIR": str(tmp_path)}  # gunicorn: not the flask command

    for environ in (given, production, server):
        prepare_local_environment(environ)

    assert given["SECRET_KEY"] == "k" * 40
    assert "SECRET_KEY" not in production and "SECRET_KEY" not in server
    assert not (tmp_path / "secret_key").exists()


def test_the_reviews_forged_admin_token_is_refused_by_a_development_app(tmp_path, make_database, wechat_fake):
    from server.app import create_app
    from tests.conftest import base_config, close_app

    config = base_config(make_database("fail_closed"), wechat_fake.url, LINLI_ENV="development")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({**config, "SECRET_KEY": DEFAULT_SECRET_KEY})
    environ = {"LINLI_ENV": "development", "LINLI_INSTANCE_DIR": str(tmp_path)}
    prepare_local_environment(environ)
    app = create_app({**config, "SECRET_KEY": environ["SECRET_KEY"]})
    try:
        key = hashlib.sha256(b"linli-jwt:" + DEFAULT_SECRET_KEY.encode()).digest()
        now = int(time.time())
        forged = jwt.encode({"sub": "staff:1", "typ": "access", "iat": now, "exp": now + 3600}, key, "HS256")

        response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})

        assert response.status_code == 401
    finally:
        close_app(app)
