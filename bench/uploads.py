"""Memory of image uploads (issue 16, F8): the peak RSS of one gunicorn worker during 4 parallel uploads.

One worker (gthread, 4 threads) on a throwaway PostgreSQL database serves ``POST /api/v1/files``. Two
cases, each on a fresh worker: the review's 6320x6320 RGBA PNG (~160 KB, 40 MP once decoded; refused
now) and a legitimate 4000x3000 JPEG photo (accepted, resized to 2560x1920), each sent 4 times at once.
The figure is the worker's peak RSS (VmHWM in /proc) against the review's target of 300 MB (2.2 GB
before). Run: ``python -m bench.uploads`` (or ``make bench``).
"""

from __future__ import annotations

import io
import os
import random
import secrets
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from flask_migrate import upgrade
from PIL import Image

from bench.common import ROOT, create_database, drop_database, free_port, record, start_fake_wechat

PARALLEL = 4
TARGET_MB = 300


def bomb_png(width: int = 6320, height: int = 6320) -> bytes:
    """The review's mkimgs.py bigrgba.png: a uniform RGBA PNG that is tiny on the wire, streamed."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rng = random.Random(1)  # noqa: S311  (reproducible noise, not a secret)
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes((200, 30, 30, 255)) * width
    noisy = b"\x00" + rng.randbytes(width * 4)
    idat = b"".join(compressor.compress(noisy if y == 0 else row) for y in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def photo_jpeg() -> bytes:
    """A 4000x3000 JPEG (12 MP, a phone photo's size) of a smooth gradient."""
    out = io.BytesIO()
    Image.radial_gradient("L").resize((4000, 3000)).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _status(pid: int, field: str) -> int:
    """A /proc/<pid>/status memory figure in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def _login(base: str, i: int) -> str:
    response = requests.post(f"{base}/api/v1/auth/wechat", json={"code": f"up{base[-5:]}u{i}.1"}, timeout=10)
    body = response.json()
    if "access_token" not in body:
        raise RuntimeError(f"login failed: {response.status_code} {body}")
    return str(body["access_token"])


def measure(env: dict[str, str], data: bytes, name: str, content_type: str) -> tuple[float, float, list[int]]:
    """(RSS before MB, peak RSS MB, statuses) of a fresh worker answering PARALLEL uploads of ``data``."""
    port = free_port()
    master = subprocess.Popen(  # noqa: S603  (a fixed argv: this interpreter running gunicorn)
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads",
         str(PARALLEL), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(base + "/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        worker = _worker_pid(master.pid)
        tokens = [_login(base, i) for i in range(PARALLEL)]
        before = _status(worker, "VmRSS") / 1024

        def post(token: str) -> int:
            files = {"file": (name, data, content_type)}
            headers = {"Authorization": f"Bearer {token}"}
            return requests.post(
                f"{base}/api/v1/files", files=files, headers=headers, timeout=120
            ).status_code

        with ThreadPoolExecutor(PARALLEL) as pool:
            statuses = list(pool.map(post, tokens))
        return before, _status(worker, "VmHWM") / 1024, statuses
    finally:
        master.terminate()
        master.wait(timeout=30)


def main() -> None:
    """Seed, serve, upload, print."""
    name, plain_url = create_database("uploads")
    from server.app import create_app

    fake_server = start_fake_wechat()
    settings = {
        "LINLI_ENV": "testing",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": plain_url,
        "WECHAT_API_BASE": f"http://127.0.0.1:{fake_server.server_port}",
        "LINLI_INSTANCE_DIR": str(ROOT / "var" / f"bench-uploads-{secrets.token_hex(3)}"),
    }
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(settings)
    try:
        app = create_app({**settings, "REDIS_URL": None})
        with app.app_context():
            upgrade()
        bomb, photo = bomb_png(), photo_jpeg()
        print(
            f"image uploads: one gunicorn worker (gthread, {PARALLEL} threads), {PARALLEL} parallel uploads"
        )
        rows = []
        for label, data, filename, kind in (
            (f"6320x6320 RGBA PNG, {len(bomb) // 1000} KB", bomb, "bigrgba.png", "image/png"),
            (f"4000x3000 JPEG, {len(photo) // 1000} KB", photo, "photo.jpg", "image/jpeg"),
        ):
            before, peak, statuses = measure(env, data, filename, kind)
            rows.append((label, peak))
            print(f"  {label:<32} statuses {statuses}  RSS {before:.0f} -> peak {peak:.0f} MB")
        worst = max(peak for _, peak in rows)
        met = record("upload peak RSS, 4 parallel (worst case)", worst, "MB", target=f"value <= {TARGET_MB}")
        print(f"worst peak {worst:.0f} MB against the target of {TARGET_MB} MB: {'ok' if met else 'OVER'}")
    finally:
        fake_server.shutdown()
        drop_database(name)


if __name__ == "__main__":
    main()
