#!/usr/bin/python
# Copyright: facefleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's capacity (vCPUs, memory) and facefleet's local facts, without a hardware scan."""

from __future__ import annotations

DOCUMENTATION = r"""
module: capacity_facts
short_description: Read a host's vCPUs, memory and facefleet's local facts, quickly
description:
  - Returns, as facts, what the worker planner reads about a host and nothing else.
    C(processor_vcpus) is the number of processors listed in C(/proc/cpuinfo), and
    C(memtotal_mb) is C(MemTotal) from C(/proc/meminfo) in MiB. These are the names and
    values that M(ansible.builtin.setup) gives with its C(hardware) subset.
  - Also returns the local facts under C(ansible_local), as C(setup) does with
    O(fact_path). Each C(*.fact) file there is read as JSON, the only form that facefleet's
    roles write. A file that is not JSON gets an error text as its value, with a warning,
    as C(setup) does.
  - Scale and autoscale read these before they plan. C(setup) with the C(hardware) subset
    also lists mounts, block devices and DMI, and took about 0.8 s longer on the lab's
    hosts.
  - Linux only.
version_added: 1.0.0
author: facefleet contributors
options:
  fact_path:
    description: Folder of the local facts (C(*.fact)), as for C(setup).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  facts:
    support: full
"""

EXAMPLES = r"""
- name: Read this host's capacity and facefleet's local facts
  facefleet.fleet.capacity_facts:
    fact_path: /etc/facefleet
"""

RETURN = r"""
ansible_facts:
  description: The host's capacity, and its local facts.
  returned: always
  type: dict
  contains:
    processor_vcpus:
      description: Logical processors (the entries of C(/proc/cpuinfo)).
      type: int
      sample: 4
    memtotal_mb:
      description: Total memory in MiB (C(MemTotal) of C(/proc/meminfo)).
      type: int
      sample: 7962
    ansible_local:
      description: Each local fact file's content, by the file's name without C(.fact).
      type: dict
      sample: {"workers": {"scale": {"workers": 2}}}
"""

import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule

CPUINFO = "/proc/cpuinfo"
MEMINFO = "/proc/meminfo"


def vcpus(cpuinfo: str) -> int:
    """Logical processors: one ``processor`` entry each."""
    return sum(1 for line in cpuinfo.splitlines() if line.split(":")[0].strip() == "processor")


def memtotal_mb(meminfo: str) -> int:
    """``MemTotal`` (in kB) in MiB."""
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key == "MemTotal":
            return int(value.split()[0]) // 1024
    raise ValueError(f"no MemTotal in {MEMINFO}")


def local_facts(module: AnsibleModule, folder: str) -> dict[str, object]:
    facts: dict[str, object] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.fact"))):
        name = os.path.basename(path)[: -len(".fact")]
        try:
            with open(path, encoding="utf-8") as handle:
                facts[name] = json.load(handle)
        except (OSError, ValueError) as exc:
            module.warn(f"local fact {path} is not readable JSON: {exc}")
            facts[name] = f"error loading facts as JSON: {exc}"
    return facts


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def main() -> None:
    module = AnsibleModule(
        argument_spec={"fact_path": {"type": "path", "required": True}},
        supports_check_mode=True,
    )
    try:
        facts = {
            # A /proc/cpuinfo without per-processor entries (s390x): the online CPUs.
            "processor_vcpus": vcpus(read_text(CPUINFO)) or os.cpu_count() or 1,
            "memtotal_mb": memtotal_mb(read_text(MEMINFO)),
        }
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read this host's capacity: {exc}")
    facts["ansible_local"] = local_facts(module, module.params["fact_path"])
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
