"""A redis-server and a PostgreSQL cluster of one test's own, on free ports, to stop and start at will.

Nothing here touches the machine's shared services (127.0.0.1:5432 / 6379): each server lives in a
temporary directory, listens on 127.0.0.1 on a port of its own and is removed at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]


class Unavailable(Exception):
    """A throwaway service cannot be run on this machine (a binary or the postgres OS user is missing)."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what`` after timeout.

    The deadline only stops a broken run from hanging: it is far above what the step needs.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- Redis -------------------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` without persistence (a restart starts empty, like a lost cache node)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise Unavailable("redis-server is not on PATH")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        assert self._process is None, "already running"
        self._log = open(self.directory / "redis.log", "ab")  # noqa: SIM115  (closed in stop)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603  (argv built from the redis-server binary found)
        wait_until(self._answers, f"redis-server on port {self.port} (log: {self.directory}/redis.log)", 20)

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{_tail(self.directory / 'redis.log')}")
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it (SIGTERM; it saves nothing) and wait for the process to end."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=20)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


# --- PostgreSQL --------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The directory of initdb / pg_ctl (LINLI_TEST_PG_BIN, else the newest /usr/lib/postgresql/*/bin)."""
    configured = os.environ.get("LINLI_TEST_PG_BIN")
    candidates = [configured] if configured else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[::-1]
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    raise Unavailable("initdb/pg_ctl not found (set LINLI_TEST_PG_BIN or install PostgreSQL's server)")


class PostgresCluster:
    """A cluster made by ``initdb`` in a temporary directory, run by ``pg_ctl`` on its own port.

    initdb and postgres refuse to run as root: when the tests run as root, the cluster is run as the
    ``postgres`` OS user (``runuser``), in a directory that user owns.
    """

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self._as_user: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable(
                    "running as root and there is no 'postgres' OS user to run initdb"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise Unavailable("running as root and runuser is missing")
            self._as_user = [runuser, "-u", "postgres", "--"]
        self.directory = Path(tempfile.mkdtemp(prefix="linli-fault-pg-"))
        if owner is not None:
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/linli"
        self._initialised = False

    def _run(self, *command: str, timeout: float = 120) -> None:
        done = subprocess.run(  # noqa: S603  (argv of PostgreSQL's own tools)
            [*self._as_user, *command], capture_output=True, text=True, timeout=timeout, cwd=self.directory
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): {output}\n{_tail(self.log)}"
            )

    def start(self) -> None:
        """initdb on the first start (trust auth, database ``linli``); start; wait until it accepts."""
        if not self._initialised:
            initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            self._run(*initdb, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # fsync=off is safe here: an immediate stop loses the server, never the OS's page cache (unlike
        # synchronous_commit=off, which would lose commits an immediate stop cuts off).
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=40"
        )
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options]
        self._run(*pg_ctl, "-w", "-t", "60", "start")
        if not self._initialised:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("CREATE DATABASE linli")
            self._initialised = True

    @property
    def admin_url(self) -> str:
        """The cluster's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (clients disconnected, clean) or ``immediate`` (like a crash)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        """Whether its postmaster is up."""
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop it if running and delete its directory."""
        try:
            if self.is_running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- a real worker process -----------------------------------------------------------------------------


class WorkerProcess:
    """``flask --app wsgi worker`` in a process group of its own (the worker and its scheduler)."""

    def __init__(self, env: dict[str, str], log_path: Path, burst: bool = False) -> None:
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *(["--burst"] if burst else [])]
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(  # noqa: S603  (a fixed argv: this interpreter running flask worker)
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the worker's own process group and wait for the worker to end."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 120) -> int:
        """Wait for a burst worker to finish; its exit status."""
        return self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        """Everything it printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def output(self) -> str:
        """What it printed so far (its last lines)."""
        self._log.flush()
        return _tail(self.log_path, 40)

    def stop(self) -> None:
        """End it (SIGTERM, then SIGKILL) and close its log."""
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=15)
            # A scheduler child left behind by a SIGKILLed worker is in the same group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        finally:
            self._log.close()
