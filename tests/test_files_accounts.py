"""The files module's accounts (its groups and users options), run as Ansible runs it on a
host, against stand-in shadow tools: `getent`, `groupadd`, `useradd`, `usermod` and `id`
keep the accounts in a file and log each call. The tests must not add users to the
machine that runs them; the lab and Molecule run the real tools (a deploy makes the app's
and Flower's users, and a second deploy reports changed=0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import run_module

# One script under five names: it reads and changes accounts.json beside its folder, and
# appends each call (its name and arguments) to calls.log. Exit codes are the real tools'
# (getent: 2 when the name is unknown).
SHADOW_TOOLS = """#!{python}
import json, os, sys
from pathlib import Path

folder = Path(__file__).resolve().parent.parent
state = folder / "accounts.json"
accounts = json.loads(state.read_text())
groups, users = accounts["groups"], accounts["users"]
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(folder / "calls.log", "a") as log:
    log.write(" ".join([tool, *args]) + "\\n")


def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def set_groups(user, listed):
    for group, entry in groups.items():
        members = [m for m in entry["members"] if m != user]
        entry["members"] = members + ([user] if group in listed else [])


if tool == "getent":
    database, name = args
    if database == "group" and name in groups:
        entry = groups[name]
        print(f"{{name}}:x:{{entry['gid']}}:{{','.join(entry['members'])}}")
    elif database == "passwd" and name in users:
        entry = users[name]
        gid = groups[entry["group"]]["gid"]
        print(f"{{name}}:x:{{entry['uid']}}:{{gid}}::{{entry['home']}}:{{entry['shell']}}")
    else:
        sys.exit(2)
elif tool == "groupadd":
    groups[args[-1]] = {{"gid": 900 + len(groups), "members": []}}
elif tool in ("useradd", "usermod"):
    name = args[-1]
    if option("--gid") not in groups:
        print(f"{{tool}}: group '{{option('--gid')}}' does not exist", file=sys.stderr)
        sys.exit(6)
    home = option("--home-dir") or option("--home")
    entry = users.setdefault(name, {{"uid": 800 + len(users)}})
    entry.update(group=option("--gid"), home=home, shell=option("--shell"))
    set_groups(name, [g for g in option("--groups", "").split(",") if g])
elif tool == "id":
    name = args[-1]
    if name not in users:
        sys.exit(1)
    others = [g for g, entry in groups.items() if name in entry["members"]]
    print(" ".join([users[name]["group"], *others]))
state.write_text(json.dumps(accounts))
"""

TOOLS = ("getent", "groupadd", "useradd", "usermod", "id")


def shadow(tmp_path: Path, groups: dict | None = None, users: dict | None = None) -> Path:
    """Stand-in shadow tools in tmp_path/bin that know these accounts; their call log."""
    (tmp_path / "bin").mkdir()
    state = {"groups": groups or {}, "users": users or {}}
    (tmp_path / "accounts.json").write_text(json.dumps(state))
    for tool in TOOLS:
        script = tmp_path / "bin" / tool
        script.write_text(SHADOW_TOOLS.format(python=sys.executable))
        script.chmod(0o755)
    return tmp_path / "calls.log"


def accounts(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "accounts.json").read_text())


def changes(calls: Path) -> list[str]:
    """The calls that change accounts (not the lookups)."""
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [line for line in lines if not line.startswith(("getent", "id "))]


def flower(**changed: object) -> dict:
    user = {"name": "flower", "group": "flower", "groups": ["facefleet"], "home": "/srv/flower"}
    return {**user, **changed}


def run(tmp_path: Path, users: list[dict], *, check: bool = False) -> dict:
    arguments = {"groups": ["flower"], "users": users}
    return run_module("files", arguments, check=check, path_first=tmp_path / "bin")


def test_a_missing_group_and_user_are_made_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    calls = shadow(tmp_path, groups={"facefleet": {"gid": 901, "members": []}})

    first = run(tmp_path, [flower()])

    assert first["changed"] is True
    assert first["changed_accounts"] == ["group flower", "user flower"]
    assert changes(calls) == [
        "groupadd --system flower",
        "useradd --system --gid flower --home-dir /srv/flower --shell /usr/sbin/nologin"
        " --groups facefleet --no-create-home flower",
    ]
    made = accounts(tmp_path)
    assert made["users"]["flower"]["group"] == "flower"
    assert made["groups"]["facefleet"]["members"] == ["flower"]
    calls.unlink()

    second = run(tmp_path, [flower()])

    assert second["changed"] is False
    assert second["changed_accounts"] == []
    assert changes(calls) == []


def test_an_existing_user_gets_the_declared_shell_and_exactly_the_declared_groups(
    tmp_path: Path,
) -> None:
    calls = shadow(
        tmp_path,
        groups={
            "flower": {"gid": 900, "members": []},
            "facefleet": {"gid": 901, "members": []},
            "adm": {"gid": 4, "members": ["flower"]},
        },
        users={
            "flower": {"uid": 800, "group": "flower", "home": "/srv/flower", "shell": "/bin/sh"}
        },
    )

    result = run(tmp_path, [flower()])

    assert result["changed_accounts"] == ["user flower"]
    assert changes(calls) == [
        "usermod --gid flower --home /srv/flower --shell /usr/sbin/nologin"
        " --groups facefleet flower"
    ]
    diff = result["diff"][0]
    assert "groups: adm\n" in diff["before"]
    assert "shell: /bin/sh\n" in diff["before"]
    assert "groups: facefleet\n" in diff["after"]
    assert "shell: /usr/sbin/nologin\n" in diff["after"]
    assert accounts(tmp_path)["groups"]["adm"]["members"] == []


def test_check_mode_reports_the_accounts_to_make_and_makes_none(tmp_path: Path) -> None:
    calls = shadow(tmp_path, groups={"facefleet": {"gid": 901, "members": []}})

    result = run(tmp_path, [flower(create_home=True)], check=True)

    assert result["changed"] is True
    assert result["changed_accounts"] == ["group flower", "user flower"]
    assert changes(calls) == []
    assert accounts(tmp_path)["users"] == {}
    assert result["diff"][1]["after"].startswith("group: flower\n")


def test_a_shadow_tool_that_fails_fails_the_task_with_its_message(tmp_path: Path) -> None:
    shadow(tmp_path)  # no facefleet group: useradd refuses the user

    result = run(tmp_path, [flower(group="facefleet")])

    assert result["failed"] is True
    assert "group 'facefleet' does not exist" in result["msg"]
