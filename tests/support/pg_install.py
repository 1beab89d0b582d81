"""`make test-deps`: PostgreSQL for the PostgreSQL tests, installed only visibly.

The PostgreSQL tests (tests/support/pg_server.py) start a throw-away server from the PostgreSQL
programs on this machine. When there are none, `python tests/support/pg_install.py` says what
it will install and why, then installs Debian's `postgresql` package with apt-get (as root, or
through passwordless sudo). A user who cannot install it gets one line saying the PostgreSQL
tests will be skipped; under CI=true that is an error instead, as the tests would fail there
anyway. PG_INSTALL=0 turns installing off; PG_BINDIR names programs installed somewhere
unusual."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_TIMEOUT_S = 900
_REQUIRED = ("initdb", "pg_ctl", "postgres", "psql")


class PostgresUnavailable(Exception):
    """PostgreSQL could not be found or installed on this machine."""


def _has_programs(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in _REQUIRED)


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl, postgres and psql, or None."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    # Debian/Ubuntu keep the server programs off PATH, one directory per major version.
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: _version_key(p.parent.name), reverse=True)
    for program in ("pg_ctl", "initdb"):
        found = shutil.which(program)
        if found:
            candidates.append(Path(found).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    return next((c for c in candidates if _has_programs(c)), None)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _sudo_prefix() -> list[str] | None:
    """[] as root, ["sudo", "-n"] with passwordless sudo, None when we cannot be root."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") is None:
        return None
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        probe = subprocess.run(
            ["sudo", "-n", "true"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL
        )
        if probe.returncode == 0:
            return ["sudo", "-n"]
    return None


def missing_reason() -> str:
    """Why the PostgreSQL tests cannot run here, and what would fix it."""
    if shutil.which("apt-get") is not None and _sudo_prefix() is not None:
        return "PostgreSQL is not installed; `make test-deps` installs it with apt-get"
    return (
        "PostgreSQL is not installed and this user cannot install it (not root); "
        "install the postgresql package, or set PG_BINDIR"
    )


def install_postgresql() -> None:
    """Install Debian's `postgresql` package with apt-get (as root, or with sudo -n)."""
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable("PostgreSQL is not installed and apt-get is not available")
    prefix = _sudo_prefix()
    if prefix is None:
        raise PostgresUnavailable(missing_reason())
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        try:
            result = subprocess.run(
                prefix + command,
                capture_output=True,
                text=True,
                env=env,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise PostgresUnavailable(f"{' '.join(command)} failed: {exc}") from exc
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailable(
                f"{' '.join(command)} exited {result.returncode}: {' | '.join(tail)}"
            )


def main() -> int:
    """Make sure PostgreSQL is there for the tests; 0 unless CI needs it and it is not."""
    in_ci = os.environ.get("CI", "").strip().lower() == "true"
    bindir = find_bindir()
    if bindir is not None:
        print(f"test-deps: PostgreSQL found in {bindir}", flush=True)
        return 0
    if os.environ.get("PG_INSTALL", "").strip() == "0":
        problem = "PostgreSQL is not installed and PG_INSTALL=0 says not to install it"
    else:
        try:
            if shutil.which("apt-get") is None or _sudo_prefix() is None:
                raise PostgresUnavailable(missing_reason())
            print(
                "test-deps: installing Debian's postgresql package with apt-get "
                "(apt-get update; apt-get install postgresql): the PostgreSQL tests start a "
                "throw-away server from it. PG_INSTALL=0 skips this.",
                flush=True,
            )
            install_postgresql()
            bindir = find_bindir()
            if bindir is None:
                raise PostgresUnavailable("the postgresql package installed no initdb/pg_ctl")
            print(f"test-deps: PostgreSQL installed in {bindir}", flush=True)
            return 0
        except PostgresUnavailable as exc:
            problem = str(exc)
    if in_ci:
        print(f"test-deps: error: {problem}; CI needs the PostgreSQL tests", file=sys.stderr)
        return 1
    print(f"test-deps: {problem}; the PostgreSQL tests will be skipped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
