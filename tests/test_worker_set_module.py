"""The worker_set module, run on this machine as Ansible runs it on a host: it writes
the two worker files only when they differ, applies only then, writes nothing in check
mode, and fails when the apply fails.

`facefleet workers apply` itself is tested under a real supervisord with real workers in
app/tests (test_worker_set.py); here a small script stands in for it and records each
call, so that what the module decides is what is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_module

PROGRAMS = "[program:facefleet-worker-1]\ncommand=celery worker --hostname=celery1@host\n"
DECLARATION = json.dumps({"workers": [{"program": "facefleet-worker-1"}]}, indent=4) + "\n"


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    """Two files' places and a stand-in for `facefleet` that logs its arguments and exits
    with the code in ``exit_code`` (0 unless a test writes another)."""
    (tmp_path / "exit_code").write_text("0")
    command = tmp_path / "facefleet"
    command.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/calls\n'
        f"cp {tmp_path}/workers.fact {tmp_path}/applied.fact\n"
        'echo "apply: started: facefleet-worker-1"\n'
        f"exit $(cat {tmp_path}/exit_code)\n"
    )
    command.chmod(0o755)
    return {
        "programs": tmp_path / "workers.conf",
        "workers": tmp_path / "workers.fact",
        "facefleet": command,
        "calls": tmp_path / "calls",
        "applied": tmp_path / "applied.fact",
        "exit_code": tmp_path / "exit_code",
    }


def run(
    host: dict[str, Path], *options: str, programs: str = PROGRAMS, workers: str = DECLARATION
) -> dict:
    """The module's result, run as Ansible runs it on a host (``--check`` for check mode)."""
    document = json.loads(workers)
    document["workers"] = [w for w in document["workers"] if w.get("wanted", True)]
    args = {
        "programs_file": str(host["programs"]),
        "programs": programs,
        "workers_file": str(host["workers"]),
        "workers": workers,
        # As the role renders it: the same declaration, without the workers to stop.
        "steady_workers": render(document),
        "workers_group": "root",
        "facefleet": str(host["facefleet"]),
    }
    return run_module("worker_set", args, check="--check" in options)


def calls(host: dict[str, Path]) -> list[str]:
    return host["calls"].read_text().splitlines() if host["calls"].exists() else []


def test_first_run_writes_both_files_and_applies(host: dict[str, Path]) -> None:
    result = run(host)
    assert result["changed"] is True
    assert result["written"] == [str(host["programs"]), str(host["workers"])]
    assert host["programs"].read_text() == PROGRAMS
    assert host["workers"].read_text() == DECLARATION
    assert oct(host["programs"].stat().st_mode & 0o777) == "0o644"
    assert oct(host["workers"].stat().st_mode & 0o777) == "0o640"
    assert calls(host) == [f"workers --file {host['workers']} apply"]
    assert result["applied"] == "apply: started: facefleet-worker-1"


def test_a_second_run_changes_nothing_and_does_not_apply(host: dict[str, Path]) -> None:
    run(host)
    result = run(host)
    assert result["changed"] is False
    assert result["written"] == []
    assert len(calls(host)) == 1


def test_a_changed_mode_alone_is_repaired_and_applied(host: dict[str, Path]) -> None:
    run(host)
    host["workers"].chmod(0o644)  # readable by all: the declaration is the app group's
    result = run(host)
    assert result["written"] == [str(host["workers"])]
    assert oct(host["workers"].stat().st_mode & 0o777) == "0o640"
    assert len(calls(host)) == 2


def test_check_mode_shows_the_diff_and_writes_nothing(host: dict[str, Path]) -> None:
    run(host)
    wanted = PROGRAMS.replace("celery1@host", "celery9@host")
    result = run(host, "--check", "--diff", programs=wanted)
    assert result["changed"] is True
    assert result["written"] == [str(host["programs"])]
    [diff] = result["diff"]
    assert diff["before"] == PROGRAMS
    assert diff["after"] == wanted
    assert host["programs"].read_text() == PROGRAMS
    assert len(calls(host)) == 1


def test_check_mode_on_a_fresh_host_writes_nothing(host: dict[str, Path]) -> None:
    result = run(host, "--check")
    assert result["changed"] is True
    assert not host["programs"].exists()
    assert not host["workers"].exists()
    assert calls(host) == []


def test_a_failed_apply_fails_the_task_with_its_message(host: dict[str, Path]) -> None:
    host["exit_code"].write_text("1")
    result = run(host)
    assert result.get("failed") is True
    assert "facefleet workers apply failed (rc 1)" in result["msg"]


def test_check_mode_reports_a_changed_mode_and_leaves_it(host: dict[str, Path]) -> None:
    run(host)
    host["workers"].chmod(0o644)
    result = run(host, "--check")
    assert result["written"] == [str(host["workers"])]
    assert oct(host["workers"].stat().st_mode & 0o777) == "0o644"
    assert len(calls(host)) == 1


def declaration(*wanted: bool) -> str:
    """Worker N+1 of the host, wanted or (on its way out) not, as the role writes it."""
    workers = [
        {"node": f"celery{n}@host", "program": f"facefleet-worker-{n}", "wanted": w}
        for n, w in enumerate(wanted, start=1)
    ]
    return render({"drain_timeout": 300, "workers": workers})


def render(document: dict) -> str:
    """JSON text as the role's to_nice_json writes it."""
    return json.dumps(document, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def test_a_scale_down_drains_by_name_then_forgets_the_workers_it_stopped(
    host: dict[str, Path],
) -> None:
    run(host, workers=declaration(True, True, True))
    result = run(host, workers=declaration(True, False, False))
    # The apply saw the two on their way out (it drains them by node name) ...
    applied = json.loads(host["applied"].read_text())
    assert [w["wanted"] for w in applied["workers"]] == [True, False, False]
    # ... and the file keeps only the worker that stays, as the next run declares it.
    assert host["workers"].read_text() == declaration(True)
    assert result["diff"][0]["after"] == declaration(True)
    again = run(host, workers=declaration(True))
    assert again["changed"] is False
    assert len(calls(host)) == 2


def test_a_failed_scale_down_keeps_the_workers_on_their_way_out(host: dict[str, Path]) -> None:
    run(host, workers=declaration(True, True))
    host["exit_code"].write_text("1")
    run(host, workers=declaration(True, False))
    assert host["workers"].read_text() == declaration(True, False)
