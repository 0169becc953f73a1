# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the host's own tools (systemctl, getent, useradd, ...) from a module, and
fail the task with the tool's own words when it fails."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def run_tool(module: AnsibleModule, argv: list[str], check: bool = True) -> tuple[int, str]:
    """Run ``argv`` (its first word is looked up on PATH). Returns the exit status and the
    output, or the error text when it failed, stripped. With ``check``, a failure fails
    the task: "<argv> failed (rc N): <error>"."""
    command = [module.get_bin_path(argv[0], required=True), *argv[1:]]
    rc, out, err = module.run_command(command)
    if rc != 0 and check:
        module.fail_json(msg=f"{' '.join(argv)} failed (rc {rc}): {(err or out).strip()}")
    return rc, (out if rc == 0 else (err or out)).strip()
