"""The host CLI as an operator meets it: one line and a non-zero exit for every expected
problem (settings it may not read, Redis down, no worker), never a traceback."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from facefleet import cli

NO_FILE = "/nonexistent"


def facefleet(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facefleet.cli", *argv],
        env={**os.environ, "FACEFLEET_CONFIG": NO_FILE, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    run = facefleet("--version")
    assert run.returncode == 0
    assert run.stdout.startswith("facefleet 0.1.0")


@pytest.mark.parametrize("command", [["status"], ["gallery", "list"], ["ping", "celery1@x"]])
def test_redis_down_is_one_line_and_exit_3(command: list[str], tmp_path: Path) -> None:
    # A port nothing listens on: bind one, note it, close it.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = facefleet(*command, FACEFLEET_REDIS_URL=f"redis://:secret-pw@127.0.0.1:{port}/0")
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"facefleet: cannot reach Redis at redis://127.0.0.1:{port}/0")
    assert "secret-pw" not in run.stderr


def test_wrong_password_is_one_line(redis_url: str) -> None:
    wrong = redis_url.replace("test-only-password", "not-the-password")
    run = facefleet("status", FACEFLEET_REDIS_URL=wrong)
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1, run.stderr
    assert "refused the password" in run.stderr
    assert "not-the-password" not in run.stderr


def test_status_without_any_worker_fails(redis_url: str) -> None:
    run = facefleet("status", "--timeout", "0.5", FACEFLEET_REDIS_URL=redis_url)
    assert run.returncode == 1, run.stderr
    assert "no worker answered within 0.5 s" in run.stderr
    assert "workers: 0" in run.stdout  # the table (queue depth) is still printed


def test_unreadable_settings_say_which_group() -> None:
    """As the hosts have it: /etc/facefleet is root:<app group> 0750, the file 0640,
    in a folder anyone may pass through (as /etc)."""
    base = Path(tempfile.mkdtemp(prefix="facefleet-cli-"))
    base.chmod(0o755)
    folder = base / "etc-facefleet"
    folder.mkdir(mode=0o750)
    config = folder / "facefleet.toml"
    config.write_text('redis_url = "redis://:pw@127.0.0.1:6379/0"\n')
    config.chmod(0o640)
    group = grp.getgrgid(folder.stat().st_gid).gr_name
    os.environ["FACEFLEET_CONFIG"] = str(config)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: an operator without the group, with the code already loaded
        try:
            os.close(read)
            sys.stderr = os.fdopen(write, "w")
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            else:
                folder.chmod(0)
            code = cli.main(["status"])
            sys.stderr.flush()
        except BaseException:
            code = 99
        os._exit(code)
    os.close(write)
    os.environ.pop("FACEFLEET_CONFIG")
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    shutil.rmtree(base)
    assert os.waitstatus_to_exitcode(status) == 2, message
    assert message.count("\n") == 1, message
    assert f"cannot read the settings file {config} (permission denied)" in message
    assert f"member of group '{group}'" in message
    assert f"sudo -g {group}" in message
