"""The pieces of `facefleet workers logs` on real files: a rotated file, lines without a
time, --since, and the fleet-wide command's connection to each host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facefleet.fleet_logs import remote_command
from facefleet.worker_logs import LogFile, merged, parse_since, since


def stamped(seconds_ago: float, text: str) -> bytes:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - seconds_ago))
    return f"[{stamp},000: INFO/MainProcess] {text}".encode()


def test_new_lines_survive_a_rotation_and_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    path.write_bytes(b"one\ntwo\n")
    log = LogFile("celery1@w", path)
    assert log.last(1) == [b"two"]
    with path.open("ab") as handle:
        handle.write(b"three\nfou")
    assert log.new() == [b"three"]
    with path.open("ab") as handle:
        handle.write(b"r\n")
    assert log.new() == [b"four"]
    path.rename(tmp_path / "w.log.1")  # supervisor rotates: a new file by the same name
    path.write_bytes(b"five\n")
    assert log.new() == [b"five"]
    log.close()


def test_since_keeps_unstamped_lines_with_the_line_before_them() -> None:
    lines = [
        stamped(600, "old"),
        b"  old traceback",
        stamped(30, "new"),
        b"  new traceback",
    ]
    assert since(lines, time.time() - 60) == [lines[2], lines[3]]


def test_merged_orders_by_time_and_prefixes() -> None:
    rows = merged({"a@h": [stamped(10, "a1"), b"  a1 more"], "b@h": [stamped(20, "b1")]})
    assert [r.split(b" | ")[0] for r in rows] == [b"b@h", b"a@h", b"a@h"]
    assert rows[2].endswith(b"a1 more")


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("90s", now) == now - 90
    assert parse_since("2h", now) == now - 7200
    with pytest.raises(ValueError, match="give a duration"):
        parse_since("yesterday", now)


def test_each_host_is_reached_as_ansible_would() -> None:
    docker = remote_command("w1", {"ansible_connection": "community.docker.docker",
                                   "ansible_host": "lab-w1"}, ["-n", "5"])  # fmt: skip
    assert docker == ["docker", "exec", "lab-w1", "facefleet", "workers", "logs", "-n", "5"]
    ssh = remote_command("w2", {"ansible_host": "10.0.0.2", "ansible_user": "deploy",
                                "ansible_port": 2222}, [])  # fmt: skip
    assert ssh[:-1] == ["ssh", "-o", "BatchMode=yes", "-p", "2222", "-l", "deploy", "10.0.0.2"]
    assert ssh[-1] == "sudo -n facefleet workers logs"
