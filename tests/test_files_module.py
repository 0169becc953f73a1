"""The files module, run as Ansible runs it on a host (the module file, its arguments in a
file): it makes each path what the role declares, changes nothing on a second run, writes
nothing in check mode, and leaves a file alone when its validate fails.

Its service option is checked against a stand-in `systemctl` (systemd does not run on
this machine's host) that keeps each unit's state in a file and logs each call. The
roles' own use of the module, against the real systemd of the lab hosts, is checked on
the lab and in Molecule: a deploy, a second one with changed=0, and --check --diff on a
fresh host.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import sys
from pathlib import Path

from conftest import run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(
    tmp_path: Path, paths: list[dict], *, check: bool = False, service: str | None = None
) -> dict:
    """The module's result for these paths (owner and group default to the test's own),
    with the stand-in systemctl (if any) first on PATH."""
    for item in paths:
        item.setdefault("owner", OWNER)
        item.setdefault("group", GROUP)
    arguments = {"paths": paths, "service": service}
    return run_module("files", arguments, check=check, path_first=tmp_path / "bin")


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.lstat().st_mode):04o}"


def declared(tmp_path: Path) -> list[dict]:
    folder = tmp_path / "etc"
    return [
        {"path": str(folder), "state": "directory", "mode": "0750"},
        {"path": str(folder / "app.conf"), "content": "port = 6379\n", "mode": "0640"},
        {"path": str(folder / "current"), "state": "link", "src": str(folder / "app.conf")},
        {"path": str(tmp_path / "old.conf"), "state": "absent"},
    ]


def test_the_first_run_makes_each_path_and_the_second_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "old.conf").write_text("left over\n")

    first = run(tmp_path, declared(tmp_path))

    folder = tmp_path / "etc"
    assert first["changed"] is True
    assert first["changed_paths"] == [item["path"] for item in declared(tmp_path)]
    assert mode(folder) == "0750"
    assert (folder / "app.conf").read_text() == "port = 6379\n"
    assert mode(folder / "app.conf") == "0640"
    assert os.readlink(folder / "current") == str(folder / "app.conf")
    assert not (tmp_path / "old.conf").exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".facefleet-")]

    second = run(tmp_path, declared(tmp_path))

    assert second["changed"] is False
    assert second["changed_paths"] == []
    assert second["diff"] == []


def test_a_changed_content_is_rewritten_with_its_diff(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    paths = declared(tmp_path)
    paths[1]["content"] = "port = 6380\n"

    result = run(tmp_path, paths)

    assert result["changed_paths"] == [paths[1]["path"]]
    assert result["diff"] == [
        {
            "before_header": paths[1]["path"],
            "after_header": paths[1]["path"],
            "before": "port = 6379\n",
            "after": "port = 6380\n",
        }
    ]
    assert (tmp_path / "etc" / "app.conf").read_text() == "port = 6380\n"


def test_a_changed_mode_alone_is_repaired_and_shown(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    (tmp_path / "etc" / "app.conf").chmod(0o644)

    result = run(tmp_path, declared(tmp_path))

    assert result["changed_paths"] == [str(tmp_path / "etc" / "app.conf")]
    assert result["diff"][0]["before"]["mode"] == "0644"
    assert result["diff"][0]["after"]["mode"] == "0640"
    assert mode(tmp_path / "etc" / "app.conf") == "0640"


def test_check_mode_reports_every_change_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "old.conf").write_text("left over\n")

    result = run(tmp_path, declared(tmp_path), check=True)

    assert result["changed"] is True
    assert result["changed_paths"] == [item["path"] for item in declared(tmp_path)]
    assert {"before_header", "after_header", "before", "after"} <= set(result["diff"][1])
    assert result["diff"][1]["after"] == "port = 6379\n"
    assert not (tmp_path / "etc").exists()
    assert (tmp_path / "old.conf").read_text() == "left over\n"


def test_check_mode_reports_a_changed_mode_and_leaves_it(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    (tmp_path / "etc" / "app.conf").chmod(0o644)

    result = run(tmp_path, declared(tmp_path), check=True)

    assert result["changed_paths"] == [str(tmp_path / "etc" / "app.conf")]
    assert mode(tmp_path / "etc" / "app.conf") == "0644"


def test_a_file_that_fails_its_validate_is_left_as_it_was(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    paths = declared(tmp_path)
    paths[1]["content"] = "port = nonsense\n"
    paths[1]["validate"] = "grep -q '^port = [0-9]*$' %s"

    result = run(tmp_path, paths)

    assert result["failed"] is True
    assert "app.conf" in result["msg"]
    assert "failed" in result["msg"]
    assert (tmp_path / "etc" / "app.conf").read_text() == "port = 6379\n"
    assert not [p.name for p in (tmp_path / "etc").iterdir() if p.name.startswith(".facefleet-")]

    paths[1]["content"] = "port = 6390\n"
    assert run(tmp_path, paths)["changed_paths"] == [paths[1]["path"]]
    assert (tmp_path / "etc" / "app.conf").read_text() == "port = 6390\n"


def test_without_force_an_existing_file_is_left_as_the_service_wrote_it(tmp_path: Path) -> None:
    target = tmp_path / "sentinel.conf"
    target.write_text("rewritten by the service\n")
    target.chmod(0o644)
    paths = [{"path": str(target), "content": "first\n", "mode": "0640", "force": False}]

    result = run(tmp_path, paths)

    assert result["changed"] is False
    assert target.read_text() == "rewritten by the service\n"
    assert mode(target) == "0644"

    target.unlink()
    assert run(tmp_path, paths)["changed"] is True
    assert target.read_text() == "first\n"
    assert mode(target) == "0640"


def test_a_link_that_points_elsewhere_is_repointed(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    link = tmp_path / "etc" / "current"
    link.unlink()
    link.symlink_to("/elsewhere")

    result = run(tmp_path, declared(tmp_path))

    assert result["changed_paths"] == [str(link)]
    assert result["diff"][0]["before"]["src"] == "/elsewhere"
    assert os.readlink(link) == str(tmp_path / "etc" / "app.conf")


def test_a_file_without_a_mode_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, [{"path": str(tmp_path / "f"), "content": "x\n"}])

    assert result["failed"] is True
    assert "mode" in result["msg"]
    assert not (tmp_path / "f").exists()


SYSTEMCTL = """#!{python}
import json, sys
from pathlib import Path
state = Path({state!r})
units = json.loads(state.read_text())
with open({calls!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
command, unit = sys.argv[1], sys.argv[-1]
if command == "show":
    known = units.get(unit, {{"LoadState": "not-found", "ActiveState": "inactive",
                             "UnitFileState": "", "NeedDaemonReload": "no"}})
    print("\\n".join(f"{{k}}={{v}}" for k, v in known.items() if k != "FailRestarts"))
elif command == "daemon-reload":
    for known in units.values():
        known["NeedDaemonReload"] = "no"
elif command == "enable":
    units[unit]["UnitFileState"] = "enabled"
elif command == "restart":
    if units[unit].get("FailRestarts", 0) > 0:
        units[unit]["FailRestarts"] -= 1
        state.write_text(json.dumps(units))
        print("Job for " + unit + " failed", file=sys.stderr)
        sys.exit(1)
    units[unit]["ActiveState"] = "active"
elif command == "status":
    print(unit + ": failed (Result: exit-code)")
state.write_text(json.dumps(units))
"""


def systemd(tmp_path: Path, **units: dict[str, str]) -> Path:
    """A stand-in systemctl in tmp_path/bin that knows these units; the log of its calls."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "units.json").write_text(json.dumps(units))
    calls = tmp_path / "systemctl.calls"
    script = tmp_path / "bin" / "systemctl"
    state = tmp_path / "units.json"
    script.write_text(SYSTEMCTL.format(python=sys.executable, state=str(state), calls=str(calls)))
    script.chmod(0o755)
    return calls


def unit(active: str, at_boot: str, reload: str = "no") -> dict:
    return {
        "LoadState": "loaded",
        "ActiveState": active,
        "UnitFileState": at_boot,
        "NeedDaemonReload": reload,
    }


def commands(calls: Path) -> list[str]:
    return [line.split()[0] for line in calls.read_text().splitlines()]


def test_a_stopped_service_is_started_and_enabled_after_its_files(tmp_path: Path) -> None:
    calls = systemd(tmp_path, **{"redis-server.service": unit("inactive", "disabled")})

    result = run(tmp_path, declared(tmp_path), service="redis-server.service")

    assert result["changed"] is True
    assert result["service_changed"] is True
    # A path changed (a drop-in, maybe): systemd reloads before the start.
    assert commands(calls) == ["show", "daemon-reload", "enable", "reset-failed", "restart"]
    assert result["diff"][-1]["before"]["active"] == "inactive"
    assert result["diff"][-1]["after"]["active"] == "active"


def test_a_running_service_with_unchanged_files_is_only_looked_at(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, nginx=unit("active", "enabled"))

    result = run(tmp_path, declared(tmp_path), service="nginx")

    assert result["changed"] is False
    assert result["service_changed"] is False
    assert commands(calls) == ["show"]


def test_a_running_service_is_not_restarted_when_its_files_change(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, nginx=unit("active", "enabled"))
    paths = declared(tmp_path)
    paths[1]["content"] = "port = 6380\n"

    result = run(tmp_path, paths, service="nginx")

    assert result["changed_paths"] == [paths[1]["path"]]
    assert result["service_changed"] is False
    assert commands(calls) == ["show", "daemon-reload"]


def test_systemd_is_reloaded_when_it_says_so_even_if_no_path_changed(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, prometheus=unit("inactive", "enabled", reload="yes"))

    result = run(tmp_path, declared(tmp_path), service="prometheus")

    assert result["service_changed"] is True
    assert commands(calls) == ["show", "daemon-reload", "reset-failed", "restart"]


def test_check_mode_reports_a_service_to_start_and_starts_nothing(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, nginx=unit("inactive", "enabled"))

    result = run(tmp_path, declared(tmp_path), service="nginx", check=True)

    assert result["changed"] is True
    assert result["service_changed"] is True
    assert commands(calls) == ["show"]


def test_an_unknown_unit_fails_but_in_check_mode_is_one_to_start(tmp_path: Path) -> None:
    systemd(tmp_path)

    checked = run(tmp_path, declared(tmp_path), service="nftables", check=True)
    applied = run(tmp_path, declared(tmp_path), service="nftables")

    assert checked["service_changed"] is True
    assert checked["diff"][-1]["before"]["active"] == "not installed"
    assert applied["failed"] is True
    assert "no unit nftables" in applied["msg"]


def test_a_service_that_fails_to_start_is_started_once_more(tmp_path: Path) -> None:
    """A package's own start at install may still be cycling (or held by systemd's start
    limit) when the role starts the unit; the second try, after reset-failed, starts it."""
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, redis=unit("failed", "enabled") | {"FailRestarts": 1})

    result = run(tmp_path, declared(tmp_path), service="redis")

    assert result.get("failed") is not True
    assert result["service_changed"] is True
    assert commands(calls) == ["show", "reset-failed", "restart", "reset-failed", "restart"]


def test_a_service_that_fails_twice_fails_the_task_with_its_status(tmp_path: Path) -> None:
    run(tmp_path, declared(tmp_path))
    calls = systemd(tmp_path, redis=unit("failed", "enabled") | {"FailRestarts": 2})

    result = run(tmp_path, declared(tmp_path), service="redis")

    assert result["failed"] is True
    assert "redis did not start (twice): Job for redis failed" in result["msg"]
    assert result["status"] == "redis: failed (Result: exit-code)"
    assert commands(calls)[-1] == "status"


def secret_file(tmp_path: Path, content: str) -> dict:
    path = str(tmp_path / "redis.conf")
    return {"path": path, "content": content, "mode": "0640", "secret": True}


def test_a_secret_file_is_written_but_its_content_is_never_returned(tmp_path: Path) -> None:
    (tmp_path / "redis.conf").write_text("requirepass old-secret-1\n")
    paths = [secret_file(tmp_path, "requirepass new-secret-2\n")]
    paths.append({"path": str(tmp_path / "plain.conf"), "content": "port = 6379\n", "mode": "0644"})

    result = run(tmp_path, paths)

    assert (tmp_path / "redis.conf").read_text() == "requirepass new-secret-2\n"
    returned = json.dumps(result)
    assert "new-secret-2" not in returned  # not in the diff, nor in the arguments returned
    assert "old-secret-1" not in returned
    assert result["diff"][0] == {
        "before_header": str(tmp_path / "redis.conf"),
        "after_header": str(tmp_path / "redis.conf"),
        "before": "(secret: not shown)\n",
        "after": "(new secret: not shown)\n",
    }
    assert result["diff"][1]["after"] == "port = 6379\n"  # the others' diffs stay


def test_a_secret_file_s_changed_mode_is_still_shown(tmp_path: Path) -> None:
    run(tmp_path, [secret_file(tmp_path, "requirepass s3\n")])
    (tmp_path / "redis.conf").chmod(0o644)

    result = run(tmp_path, [secret_file(tmp_path, "requirepass s3\n")])

    assert result["changed_paths"] == [str(tmp_path / "redis.conf")]
    assert result["diff"][0]["before_header"].endswith("(owner, group, mode)")
    assert "s3" not in json.dumps(result)


def test_a_failed_start_after_a_secret_file_shows_its_status_but_not_the_secret(
    tmp_path: Path,
) -> None:
    systemd(tmp_path, redis=unit("failed", "enabled") | {"FailRestarts": 2})

    result = run(tmp_path, [secret_file(tmp_path, "requirepass new-secret-3\n")], service="redis")

    assert result["failed"] is True
    assert result["status"] == "redis: failed (Result: exit-code)"
    assert "new-secret-3" not in json.dumps(result)


def test_a_secret_file_that_fails_its_validate_is_kept_aside_unshown(tmp_path: Path) -> None:
    """A validator may quote the file it rejects: for a secret file none of its output
    comes back. The rejected content waits beside the file (0600) for the operator to
    check on the host, until the next write of the file removes it."""
    (tmp_path / "redis.conf").write_text("requirepass old-secret-4\n")
    paths = [secret_file(tmp_path, "requirepass new-secret-5\nport nonsense\n")]
    # A validator that quotes the file it rejects.
    paths[0]["validate"] = "sh -c 'cat %s; exit 3'"

    result = run(tmp_path, paths)

    assert result["failed"] is True
    assert result["rc"] == 3
    assert "new-secret-5" not in json.dumps(result)
    rejected = tmp_path / "redis.conf.rejected"
    assert f"sh -c 'cat {rejected}; exit 3'" in result["msg"]
    assert rejected.read_text() == "requirepass new-secret-5\nport nonsense\n"
    assert mode(rejected) == "0600"
    assert (tmp_path / "redis.conf").read_text() == "requirepass old-secret-4\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".facefleet-")]

    paths[0].update(content="requirepass new-secret-5\nport 6379\n", validate="true %s")
    assert run(tmp_path, paths)["changed_paths"] == [paths[0]["path"]]
    assert not rejected.exists()


def test_a_plain_file_that_fails_its_validate_shows_the_validators_output(
    tmp_path: Path,
) -> None:
    paths = [{"path": str(tmp_path / "app.conf"), "content": "port = x\n", "mode": "0644"}]
    paths[0]["validate"] = "sh -c 'echo bad port in %s >&2; exit 1'"

    result = run(tmp_path, paths)

    assert result["failed"] is True
    assert "bad port in" in result["msg"]
    assert not (tmp_path / "app.conf.rejected").exists()
