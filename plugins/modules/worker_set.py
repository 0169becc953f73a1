#!/usr/bin/python
# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declare a host's Celery workers and apply the change, in one run on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: worker_set
short_description: Declare a host's Celery workers to supervisor and apply the change
description:
  - Writes the host's two worker files, each only when its content, owner, group or mode
    differs. They are the supervisor programs (one include file, one program per worker)
    and the declaration C(workers.fact), which C(facefleet workers) and the memory guard
    read.
  - When either file changed, runs C(facefleet workers --file <workers_file> apply) on the
    host. New workers start; surplus and changed ones are drained, then stopped warmly;
    workers whose program did not change keep running. It returns once every worker of
    the host answers ping, and fails if one stays silent.
  - Workers whose C(wanted) is false in the declaration (those a scale-down stops) stay in
    the file while the apply drains them by their node names, and are left out once it is
    done, so that the next run with the same scale changes nothing.
  - Writing and applying in one run on the host, rather than two file tasks and a
    handler, is what lets a scale start its new workers a few seconds sooner.
  - The celery_worker role renders both contents; this module only compares, writes and
    applies.
version_added: 1.0.0
author: facefleet contributors
options:
  programs_file:
    description: Path of the supervisor include file that holds the worker programs.
    type: path
    required: true
  programs:
    description: Content of O(programs_file) (the role's C(workers.conf.j2), rendered).
    type: str
    required: true
  workers_file:
    description: Path of the declaration (C(workers.fact)).
    type: path
    required: true
  workers:
    description:
      - The declaration as JSON text (C(to_nice_json)), with the workers to stop marked
        by a false C(wanted). O(workers_file) holds it while the apply runs, which drains
        those workers by their node names.
    type: str
    required: true
  steady_workers:
    description:
      - The same declaration without the workers to stop, formatted the same way; what
        O(workers_file) holds once the apply is done, and what the next run with the
        same scale compares with. Equal to O(workers) when no worker is to stop.
      - The role renders both texts, so this module never formats JSON itself.
    type: str
    required: true
  workers_group:
    description:
      - Group of O(workers_file), the app's group, so that the host's tools can read it.
      - The file is C(root)-owned, mode C(0640); the programs file is C(root:root 0644).
    type: str
    default: root
  facefleet:
    description: The app's C(facefleet) command (in its venv), which applies the change.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Reports which files would change, with their diff; writes and applies nothing.
  diff_mode:
    support: full
notes:
  - If the apply fails (a worker stays silent), the files stay written and the task fails;
    run C(facefleet workers apply) on the host, or the playbook again after the fix.
"""

EXAMPLES = r"""
- name: Declare this host's workers and apply the change
  facefleet.fleet.worker_set:
    programs_file: /etc/supervisor/conf.d/facefleet-workers.conf
    programs: "{{ lookup('ansible.builtin.template', 'workers.conf.j2') }}"
    workers_file: /etc/facefleet/workers.fact
    workers: "{{ declaration | to_nice_json }}\n"
    steady_workers: "{{ steady | to_nice_json }}\n"
    workers_group: facefleet
    facefleet: /opt/facefleet/venv/bin/facefleet
  vars:
    steady: >-
      {{ declaration | combine({'workers': declaration.workers | selectattr('wanted') | list}) }}
"""

RETURN = r"""
written:
  description: The files whose content or attributes changed (or would, in check mode).
  returned: always
  type: list
  elements: str
applied:
  description: What C(facefleet workers apply) did, its last line (empty when not run).
  returned: always
  type: str
  sample: "apply: started facefleet-worker-3; all 3 answer ping"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.facefleet.fleet.plugins.module_utils.file_state import (
    declare_file,
    read,
    write,
)

# (owner, group, mode) of each file, the same on every host.
PROGRAMS_ATTRIBUTES = ("root", "root", "0644")
WORKERS_OWNER = "root"
WORKERS_MODE = "0640"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "programs_file": {"type": "path", "required": True},
            "programs": {"type": "str", "required": True},
            "workers_file": {"type": "path", "required": True},
            "workers": {"type": "str", "required": True},
            "steady_workers": {"type": "str", "required": True},
            "workers_group": {"type": "str", "default": "root"},
            "facefleet": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    declaration, steady = params["workers"], params["steady_workers"]
    # While the apply runs, workers.fact holds the workers on their way out too: the apply
    # drains them by their node names. Once it is done, it holds the steady declaration,
    # the one the next run with the same scale compares with.
    on_the_way_out = declaration != steady
    written, diffs = [], []
    for path, content, attributes, staged in (
        (params["programs_file"], params["programs"], PROGRAMS_ATTRIBUTES, None),
        (
            params["workers_file"],
            steady,
            (WORKERS_OWNER, params["workers_group"], WORKERS_MODE),
            declaration if on_the_way_out else None,
        ),
    ):
        changes = declare_file(module, path, content, attributes, staged=staged)
        if changes:
            written.append(path)
            diffs += changes
    result = {"changed": bool(written), "written": written, "applied": "", "diff": diffs}
    if written and not module.check_mode:
        if on_the_way_out and read(params["workers_file"]) != to_bytes(declaration):
            write(module, params["workers_file"], to_bytes(declaration))
        command = [params["facefleet"], "workers", "--file", params["workers_file"], "apply"]
        rc, out, err = module.run_command(command)
        result.update(stdout=out, stderr=err, rc=rc)
        result["applied"] = (out.strip().splitlines() or [""])[-1]
        if rc != 0:
            # The file keeps the workers on their way out, for the next apply.
            module.fail_json(
                msg=f"facefleet workers apply failed (rc {rc}): {(err or out).strip()}", **result
            )
        if on_the_way_out:
            write(module, params["workers_file"], to_bytes(steady))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
