# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a system group or a system user on a host what a role declares, and say what
differed as Ansible diffs.

The `files` module runs it before the paths, so that a role's accounts, folders and
files take one run on the host: `ansible.builtin.group` and `ansible.builtin.user` cost a
run each (about 0.3 s of the host's CPU, and a task slot on the controller) even when the
account is already there.

The accounts are read with `getent` and changed with `groupadd`, `useradd` and
`usermod`, the shadow tools every Debian host has (the same ones `ansible.builtin.user`
runs).
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.facefleet.fleet.plugins.module_utils.host_command import run_tool

# getent's exit status when the name is not in the database.
GETENT_NOT_FOUND = 2


def lookup(module: AnsibleModule, database: str, name: str) -> list[str] | None:
    """The fields of ``name``'s entry in ``database`` (passwd, group), or None."""
    getent = module.get_bin_path("getent", required=True)
    rc, out, err = module.run_command([getent, database, name])
    if rc == GETENT_NOT_FOUND:
        return None
    if rc != 0:
        module.fail_json(msg=f"getent {database} {name} failed (rc {rc}): {err.strip()}")
    return out.splitlines()[0].split(":")


def account_diff(kind: str, name: str, before: str, after: str) -> dict:
    return {
        "before_header": f"{kind} {name}",
        "after_header": f"{kind} {name}",
        "before": before,
        "after": after,
    }


def declare_group(module: AnsibleModule, name: str) -> list[dict]:
    """Make ``name`` a system group if there is no such group; its diff, if it was made."""
    if lookup(module, "group", name) is not None:
        return []
    if not module.check_mode:
        run_tool(module, ["groupadd", "--system", name])
    return [account_diff("group", name, "", f"{name} (system group)\n")]


def describe(group: str, groups: list[str], home: str, shell: str) -> str:
    """One user's settings, one per line, as its diff shows them."""
    listed = ", ".join(sorted(groups)) or "(none)"
    return f"group: {group}\ngroups: {listed}\nhome: {home}\nshell: {shell}\n"


def declare_user(module: AnsibleModule, user: dict) -> list[dict]:
    """Make ``user`` (name, group, groups, home, shell, create_home) a system user with
    that primary group, exactly those other groups, that home and that shell; its diff,
    if anything differed. An existing home is never moved."""
    name, group, home, shell = user["name"], user["group"], user["home"], user["shell"]
    groups = sorted(set(user["groups"]) - {group})
    wanted = describe(group, groups, home, shell)
    entry = lookup(module, "passwd", name)
    if entry is None:
        if not module.check_mode:
            argv = ["useradd", "--system", "--gid", group, "--home-dir", home, "--shell", shell]
            argv += ["--groups", ",".join(groups)] if groups else []
            argv += ["--create-home"] if user["create_home"] else ["--no-create-home"]
            run_tool(module, [*argv, name])
        return [account_diff("user", name, "", wanted)]
    primary, present = group_names(module, name)
    before = describe(primary, present, entry[5], entry[6])
    if before == wanted:
        return []
    if not module.check_mode:
        argv = ["usermod", "--gid", group, "--home", home, "--shell", shell]
        run_tool(module, [*argv, "--groups", ",".join(groups), name])
    return [account_diff("user", name, before, wanted)]


def group_names(module: AnsibleModule, name: str) -> tuple[str, list[str]]:
    """``name``'s primary group and its other groups (``id -Gn`` prints the primary
    first)."""
    primary, *others = run_tool(module, ["id", "-Gn", name])[1].split()
    return primary, sorted(set(others) - {primary})
