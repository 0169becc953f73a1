# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a systemd unit run now and at boot, each only if it does not already, with one
`systemctl show` when nothing needs doing: the tail of the `files` module's run, so that
a role's files and its service cost one run on the host, not two."""

from __future__ import annotations

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.facefleet.fleet.plugins.module_utils.host_command import run_tool

# What `systemctl show` says of an enabled unit, or of one that needs no enabling.
STARTS_AT_BOOT = {"enabled", "enabled-runtime", "static", "alias", "generated", "indirect"}
PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")
# A unit that fails to start is started once more after this pause: a package's own start
# at install (in a container, one that fails until the role's drop-in is loaded) may
# still be cycling through its restarts, or be held by systemd's start limit.
RETRY_PAUSE_SECONDS = 2.0


def _systemctl(module: AnsibleModule, *arguments: str, check: bool = True) -> tuple[int, str]:
    return run_tool(module, ["systemctl", *arguments], check=check)


def _start(module: AnsibleModule, unit: str) -> None:
    """Start a unit that is not active, afresh: `restart` ends an activation still running
    with the unit's old settings; `reset-failed` lifts a start limit the package's own
    start may have hit. Fails with the unit's status when the second try fails too."""
    for attempt in (1, 2):
        _systemctl(module, "reset-failed", "--", unit, check=False)
        rc, why = _systemctl(module, "restart", "--", unit, check=False)
        if rc == 0:
            return
        if attempt == 1:
            time.sleep(RETRY_PAUSE_SECONDS)
    _, status = _systemctl(module, "status", "--no-pager", "--lines=20", "--", unit, check=False)
    module.fail_json(msg=f"{unit} did not start (twice): {why}", status=status)


def unit_properties(module: AnsibleModule, unit: str) -> dict[str, str]:
    _, out = _systemctl(module, "show", f"--property={','.join(PROPERTIES)}", "--", unit)
    pairs = (line.partition("=") for line in out.splitlines() if "=" in line)
    return {key: value for key, _, value in pairs}


def run_unit(module: AnsibleModule, unit: str, files_changed: bool) -> list[dict]:
    """Make ``unit`` active and enabled; returns the diff (none when it already was).

    systemd reloads its unit files first when it says it needs to, or when ``files_changed``
    (a drop-in this run wrote, say). A unit that is already running is not restarted:
    a role's handler does that when its files changed. In check mode, a unit systemd does
    not know yet (its package is not installed yet) is reported as one to start."""
    properties = unit_properties(module, unit)
    if properties.get("LoadState") == "not-found":
        if module.check_mode:
            return [_diff(unit, properties, reloaded=False)]
        module.fail_json(msg=f"systemd has no unit {unit} (is its package installed?)")
    reload_needed = files_changed or properties.get("NeedDaemonReload") == "yes"
    enable = properties.get("UnitFileState") not in STARTS_AT_BOOT
    start = properties.get("ActiveState") != "active"
    if reload_needed and not module.check_mode:
        _systemctl(module, "daemon-reload")
    if not (enable or start):
        return []
    if not module.check_mode:
        if enable:
            _systemctl(module, "enable", "--", unit)
        if start:
            _start(module, unit)
    return [_diff(unit, properties, reloaded=reload_needed)]


def _diff(unit: str, properties: dict[str, str], *, reloaded: bool) -> dict:
    before = {
        "unit": unit,
        "active": properties.get("ActiveState", "unknown"),
        "at_boot": properties.get("UnitFileState", "unknown"),
    }
    if properties.get("LoadState") == "not-found":
        before.update(active="not installed", at_boot="not installed")
    after = {"unit": unit, "active": "active", "at_boot": "enabled"}
    if reloaded:
        after["daemon_reload"] = "yes"
    return {"before": before, "after": after}
