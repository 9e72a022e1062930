"""What `make run` serves, started as a real process with nothing configured: SQLite, the fake WeChat."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_serves_the_api_with_nothing_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "WECHAT_"))}
    env["LINLI_INSTANCE_DIR"] = str(tmp_path)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for step in (["db", "upgrade"], ["seed-demo"]):
        done = subprocess.run([*flask, *step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603  (a fixed argv: our flask commands)
        assert done.returncode == 0, done.stderr[-2000:]
    port, fake_port = _free_port(), _free_port()
    server = subprocess.Popen(  # noqa: S603  (a fixed argv: our flask dev server)
        [*flask, "dev", "--port", str(port), "--fake-wechat-port", str(fake_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).json() == {"status": "ok"}:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert requests.get(f"{base}/readyz", timeout=5).json()["checks"] == {"database": "ok"}
        login = requests.post(f"{base}/api/v1/auth/wechat", json={"code": "newcomer.1"}, timeout=5)
        assert login.status_code == 200
        staff = requests.post(
            f"{base}/api/v1/auth/staff", json={"username": "staff", "password": "linli-staff-demo"}, timeout=5
        )
        assert staff.json()["user"]["roles"] == ["staff"]
        assert (tmp_path / "linli.sqlite3").exists()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert "fake WeChat on http://127.0.0.1" in output
    assert "no REDIS_URL: jobs run in-process" in output
