"""A real, throw-away PostgreSQL server for the tests.

`pg_server` (session scope) finds the PostgreSQL binaries (`make test-deps`, run by `make
test`, installs them when missing: tests/support/pg_install.py), creates a cluster under a
fresh temp directory with `initdb`, and starts it listening only on 127.0.0.1 (a free port,
password auth) and on a Unix socket inside that directory (trust). It is stopped (`pg_ctl stop
-m fast`) and deleted at the end. `pg_url` (function scope) creates an empty database per test
and yields its `postgresql+asyncpg://` URL; the database is dropped after the test.

PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user (the
`postgres` user of the Debian package, else a `pgtest` system user created here) and its
programs run through `runuser`.

Without PostgreSQL the tests are skipped with the reason (not installed; and whether this user
could install it), except when the environment variable CI is "true": there they fail, so CI
never passes without the server.

PG_BINDIR names the directory of initdb/pg_ctl/postgres/psql when they are somewhere unusual.
Use from a test module or conftest.py: ``from pg_server import pg_server, pg_url``."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pg_install import PostgresUnavailable, find_bindir, missing_reason

SUPERUSER = "postgres"
START_TIMEOUT_S = 60
# Settings for speed and isolation: data that dies with the test run needs no durability.
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)


@dataclass
class PostgresServer:
    """A running throw-away cluster."""

    bindir: Path
    root: Path
    port: int
    password: str
    run_as: str | None
    _spare: Future[str] | None = field(default=None, init=False, repr=False)
    _spare_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    watchdog: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The asyncpg URL of `database` over TCP on 127.0.0.1."""
        return f"postgresql+asyncpg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; returns unaligned output."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                *("-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER),
                *("-d", database, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({sql!r}): {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> None:
        self.psql(f'CREATE DATABASE "{name}"')

    def fresh_database(self) -> str:
        """The name of a new, empty database. Creating one takes a noticeable fraction of a
        second, so the next is made in the background while the caller uses this one."""
        with self._spare_lock:
            spare, self._spare = self._spare, None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="pg-spare-db")
            name = spare.result() if spare is not None else self._new_database()
            self._spare = self._executor.submit(self._new_database)
        return name

    def _new_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        self.create_database(name)
        return name

    def drop_database(self, name: str) -> None:
        # FORCE ends connections a test left open (a store it did not close).
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        with self._spare_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor, self._spare = None, None
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                self.run_as,
                [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w"]
                + ["stop"],
                timeout=START_TIMEOUT_S,
            )
        shutil.rmtree(self.root, ignore_errors=True)
        if self.watchdog is not None:
            self.watchdog.terminate()
            self.watchdog.wait(10)


# --- finding PostgreSQL (installing it: `make test-deps`, tests/support/pg_install.py) ---


def ensure_bindir() -> Path:
    """The PostgreSQL programs' directory; raises PostgresUnavailable saying why there is none.
    Nothing is installed from inside the tests: `make test-deps` does that, visibly."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(missing_reason())
    return bindir


# --- running the cluster ------------------------------------------------------------------


def _server_user() -> str | None:
    """The unprivileged user that owns the cluster when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgtest"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "pgtest"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return "pgtest"


def _as_user(user: str | None, command: list[str]) -> list[str]:
    if user is None:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *command]
    return ["su", "-s", "/bin/sh", user, "-c", shlex.join(command)]


def _run(
    user: str | None, command: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_user(user, command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_watchdog(server: PostgresServer) -> subprocess.Popen[bytes]:
    """A detached shell that stops the server and deletes its directory once this process is
    gone, so a test run killed with SIGTERM or SIGKILL does not leave a server behind."""
    stop = _as_user(
        server.run_as,
        [str(server.bindir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "stop"],
    )
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
        f"{shlex.join(stop)}; rm -rf {shlex.quote(str(server.root))}"
    )
    return subprocess.Popen(
        ["sh", "-c", script],
        start_new_session=True,  # survives signals sent to the test run's process group
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_server(bindir: Path) -> PostgresServer:
    """initdb a cluster in a new temp directory and start it; raises on failure."""
    user = _server_user()
    # /tmp is traversable by the server user; a root-only TMPDIR would not be. Unix socket
    # paths are limited to ~100 bytes, another reason for a short directory.
    base = "/tmp" if user is not None and Path("/tmp").is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="memory-bot-pg-", dir=base))
    password = secrets.token_urlsafe(16)
    (root / "pwfile").write_text(password + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "pwfile"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bindir=bindir, root=root, port=0, password=password, run_as=user)
    try:
        init = _run(
            user,
            [
                str(bindir / "initdb"),
                *("-D", str(server.data_dir), "-U", SUPERUSER, "--pwfile", str(root / "pwfile")),
                *("--auth-local=trust", "--auth-host=scram-sha-256"),
                *("--encoding=UTF8", "--no-locale", "--no-sync"),
            ],
            timeout=START_TIMEOUT_S,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {(init.stderr or init.stdout).strip()}")
        (root / "pwfile").unlink()
        for _attempt in range(3):
            server.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} "
                f"-c unix_socket_directories={server.socket_dir} {SERVER_OPTIONS}"
            )
            started = _run(
                user,
                [str(bindir / "pg_ctl"), "-D", str(server.data_dir), "-l", str(server.log_file)]
                + ["-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"],
                timeout=START_TIMEOUT_S + 10,
            )
            if started.returncode == 0:
                server.watchdog = _start_watchdog(server)
                return server
            log = server.log_file.read_text(errors="replace") if server.log_file.exists() else ""
            if "could not bind" not in log:  # anything but a lost race for the port
                raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log[-2000:]}")
        raise RuntimeError("pg_ctl start failed: no free port after 3 attempts")
    except BaseException:
        server.stop()
        raise


# --- pytest fixtures ----------------------------------------------------------------------

_lock = threading.Lock()
_shared: PostgresServer | None = None
_unavailable: str | None = None
_holders = 0


def _not_available(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def acquire_server() -> PostgresServer:
    """The process-wide server, started on first use (shared by every importing module)."""
    global _shared, _unavailable, _holders
    with _lock:
        if _unavailable is None and _shared is None:
            try:
                bindir = ensure_bindir()
            except PostgresUnavailable as exc:
                _unavailable = str(exc)
            else:
                _shared = start_server(bindir)
                atexit.register(_shared.stop)  # in case the session is torn down abruptly
        if _unavailable is not None:
            _not_available(_unavailable)
        assert _shared is not None
        _holders += 1
        return _shared


def release_server() -> None:
    """Stop the server when its last user (fixture instance) is done."""
    global _shared, _holders
    with _lock:
        _holders -= 1
        if _holders == 0 and _shared is not None:
            server, _shared = _shared, None
            atexit.unregister(server.stop)
            server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the whole test session."""
    server = acquire_server()
    try:
        yield server
    finally:
        release_server()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test, as a `postgresql+asyncpg://` URL."""
    name = pg_server.fresh_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
