"""`make test-deps` installs PostgreSQL visibly; the tests themselves never install anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pg_install
import pg_server
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_postgresql(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A machine with apt-get but no PostgreSQL; returns the commands anything tried to run."""
    ran: list[list[str]] = []

    def record(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        ran.append(list(command))
        return subprocess.CompletedProcess(command, 1, "", "")

    monkeypatch.setattr(pg_install, "find_bindir", lambda: None)
    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    monkeypatch.setattr(pg_install.subprocess, "run", record)
    real_which = shutil.which
    monkeypatch.setattr(
        pg_install.shutil,
        "which",
        lambda name: (
            f"/usr/bin/{name}"
            if name == "apt-get"
            else (None if name == "sudo" else real_which(name))
        ),
    )
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PG_INSTALL", raising=False)
    return ran


def test_without_root_the_tests_skip_with_the_reason(
    no_postgresql: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_install.os, "geteuid", lambda: 1000)
    with pytest.raises(pg_install.PostgresUnavailable) as caught:
        pg_server.ensure_bindir()
    reason = str(caught.value)
    assert reason.startswith("PostgreSQL is not installed and this user cannot install it")
    with pytest.raises(pytest.skip.Exception) as skipped:
        pg_server._not_available(reason)
    assert str(skipped.value.msg) == f"PostgreSQL tests skipped: {reason}"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        pg_server._not_available(reason)
    assert no_postgresql == []  # nothing was installed, or even tried


def test_as_root_the_tests_do_not_install_but_point_at_make_test_deps(
    no_postgresql: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_install.os, "geteuid", lambda: 0)
    with pytest.raises(pg_install.PostgresUnavailable, match="`make test-deps` installs it"):
        pg_server.ensure_bindir()
    assert no_postgresql == []


def test_test_deps_says_what_it_installs_before_installing(
    no_postgresql: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(pg_install.os, "geteuid", lambda: 0)
    said_before: list[str] = []

    def install() -> None:
        said_before.append(capsys.readouterr().out)
        raise pg_install.PostgresUnavailable("apt-get update exited 100: no network")

    monkeypatch.setattr(pg_install, "install_postgresql", install)
    assert pg_install.main() == 0
    assert said_before == [
        "test-deps: installing Debian's postgresql package with apt-get (apt-get update; "
        "apt-get install postgresql): the PostgreSQL tests start a throw-away server from it. "
        "PG_INSTALL=0 skips this.\n"
    ]
    assert capsys.readouterr().out == (
        "test-deps: apt-get update exited 100: no network; the PostgreSQL tests will be skipped\n"
    )
    monkeypatch.setenv("CI", "true")
    assert pg_install.main() == 1  # CI stops here rather than running without the server


def test_test_deps_without_root_installs_nothing(
    no_postgresql: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(pg_install.os, "geteuid", lambda: 1000)
    assert pg_install.main() == 0
    out = capsys.readouterr().out
    assert out.startswith("test-deps: PostgreSQL is not installed and this user cannot")
    assert out.endswith("; the PostgreSQL tests will be skipped\n")
    assert no_postgresql == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed here")
def test_make_test_runs_test_deps_before_pytest() -> None:
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    deps = plan.index(".venv/bin/python tests/support/pg_install.py")
    assert plan.index(".venv/bin/python -m pytest") > deps
