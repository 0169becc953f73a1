"""What an operator types, run as written: the README's "production" or "bare-metal" steps,
as the operator user inside the controller (or the bare-metal machine) container.

    python molecule/production/operator_steps.py production|bare-metal [--only-deploy]

The README's block is run line by line in one bash session (`cd` and `export` carry
over), with `set -euo pipefail`, and each line's time is logged. Three things are the
harness's, not the operator's:
- the clone: `git clone <this repository>` clones the checkout under test (bind-mounted
  read-only at /src) and checks out its working tree as it is now (`git stash create`,
  or HEAD when the tree is clean);
- the edit: `"$EDITOR" <files>` copies this site's version of each file over it (the
  inventory filled in for the hosts in molecule.yml);
- standard input: the sudo password, which `ansible-vault encrypt_string --stdin-name` or
  `-K` read, as an operator would type it.
pip finds its packages in /wheels with no index (PIP_FIND_LINKS, PIP_NO_INDEX), as an
operator without PyPI would have it. Prints the log's path and each step's time; the exit
status is the steps'.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml
from site_layout import FACES, REPO, Site, load

LOGS = REPO / ".cache" / "molecule" / "logs"
UNDER_TEST = "refs/facefleet/under-test"
# The operator's editor: puts this site's version of each file named in its place.
EDITOR = '#!/bin/sh\nfor f; do cp "/var/tmp/site/$f" "$f"; done\n'
CLONE = re.compile(r"^git clone <this repository> (\S+) && cd \1$")


def readme_steps(name: str) -> list[str]:
    """The lines of the README's code block that follows `<!-- steps: NAME ... -->`."""
    text = (REPO / "README.md").read_text()
    marker = re.search(rf"<!-- steps: {re.escape(name)}\b.*?-->\n```bash\n(.*?)\n```", text, re.S)
    if not marker:
        raise SystemExit(f"README.md has no steps block for {name!r}")
    return marker[1].splitlines()


def commit_under_test() -> str:
    """The checkout's working tree as a commit (HEAD when clean), under a ref the clone
    can fetch."""

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", *argv], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()

    commit = git("stash", "create") or git("rev-parse", "HEAD")
    git("update-ref", UNDER_TEST, commit)
    return commit


def site_inventory(site: Site) -> dict[str, str]:
    """The operator's edit of inventory/production for this site: path -> content."""
    deploy = site["deploy_user"]
    hosts: dict = {"all": {"children": {"facefleet": {"vars": {}, "children": {}}}}}
    fleet = hosts["all"]["children"]["facefleet"]
    fleet["vars"] = {
        "ansible_user": deploy,
        "ansible_become_password": "{{ vault_become_password }}",
    }
    for group in site["groups"]:
        fleet["children"][group] = {"hosts": {}}
        for host in site.group(group):
            entry: dict = {"ansible_host": host.public}
            if site.ssh_port(host.name) != 22:
                entry["ansible_port"] = site.ssh_port(host.name)
            fleet["children"][group]["hosts"][host.name] = entry
    example_vars = REPO / "inventory" / "production.example" / "group_vars" / "all" / "main.yml"
    example = example_vars.read_text()
    public, controller = site.subnets["public"], site.controller.fleet
    edits = {
        r"^fleet_network: .*$": f"fleet_network: {site.subnets['fleet']}",
        r"^# firewall_operator_networks: .*$": f"firewall_operator_networks: [{public}]",
        r"^# firewall_redis_clients: .*$": f"firewall_redis_clients: [{controller}]",
    }
    for pattern, line in edits.items():
        example, count = re.subn(pattern, line, example, flags=re.M)
        if count != 1:
            raise SystemExit(f"the example's group_vars no longer has a line {pattern!r}")
    return {
        "inventory/production/hosts.yml": "---\n# This site's hosts (edited from the example).\n"
        + yaml.safe_dump(hosts, sort_keys=False),
        "inventory/production/group_vars/all/main.yml": example,
    }


def script(steps: list[str], commit: str) -> str:
    """The steps as one bash script, each line announced and timed. Under `set -e` a
    failure inside `a && b` does not stop the script, so such lines are refused (but the
    clone, which is the harness's own)."""
    lines = ["set -euo pipefail", "step_start=0"]
    for number, step in enumerate(steps, 1):
        clone = CLONE.match(step)
        if number == 1 and not clone:
            raise SystemExit(f"the steps no longer start with a clone: {step!r}")
        if not clone and ("&&" in step or "||" in step):
            raise SystemExit(f"step {number} chains commands, which `set -e` misses: {step!r}")
        run = (
            [
                f"git clone -q /src {clone[1]}",
                f"cd {clone[1]}",
                f"git fetch -q origin {UNDER_TEST}",
                f"git checkout -q {commit}",
            ]
            if clone
            else [step]
        )
        lines += [
            f"echo {shlex.quote(f'==> step {number}: {step}')}",
            "step_start=$(date +%s)",
            *run,
            f'echo "<== step {number}: $(( $(date +%s) - step_start )) s"',
        ]
    return "\n".join(lines) + "\n"


def docker(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *argv], input=stdin, capture_output=True, check=False)


def put(container: str, path: str, content: str, owner: str, mode: str = "0644") -> None:
    directory = str(Path(path).parent)
    command = (
        f"mkdir -p {directory} && cat > {path} && chmod {mode} {path} && "
        f"chown -R {owner}: {directory}"
    )
    result = docker("exec", "-i", container, "sh", "-c", command, stdin=content.encode())
    if result.returncode:
        raise SystemExit(f"cannot write {path} in {container}: {result.stderr.decode()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", choices=["production", "bare-metal"])
    args = parser.parse_args()
    site = load()
    machine = site.controller if args.steps == "production" else site.baremetal
    operator = site["operator_user"]
    home = f"/home/{operator}"
    commit = commit_under_test()

    # The operator's photos: ~/photos/known/<person>/ and ~/photos/batch/.
    for person, photos in site["photos"]["known"].items():
        for photo in photos:
            target = f"{home}/photos/known/{person}/{photo}"
            copy = docker("cp", str(FACES / photo), f"{machine.container}:{target}")
            if copy.returncode:
                docker("exec", machine.container, "mkdir", "-p", str(Path(target).parent))
                docker("cp", str(FACES / photo), f"{machine.container}:{target}")
    docker("exec", machine.container, "mkdir", "-p", f"{home}/photos/batch")
    for photo in site["photos"]["batch"]:
        docker("cp", str(FACES / photo), f"{machine.container}:{home}/photos/batch/{photo}")
    docker("exec", machine.container, "chown", "-R", f"{operator}:", f"{home}/photos")

    # The edit, and the editor that applies it.
    edits = site_inventory(site) if args.steps == "production" else {}
    for path, content in edits.items():
        put(machine.container, f"/var/tmp/site/{path}", content, operator)
    put(
        machine.container,
        "/var/tmp/site/edit",
        EDITOR,
        operator,
        mode="0755",
    )
    steps = readme_steps(args.steps)
    put(machine.container, "/var/tmp/site/steps.sh", script(steps, commit), operator)

    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"production-{args.steps}-steps.log"
    start = time.monotonic()
    with log.open("wb") as out:
        environment = {
            "HOME": home,
            "EDITOR": "/var/tmp/site/edit",
            "PIP_FIND_LINKS": "/wheels",
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            # Task times in the log: a callback, it changes nothing the steps do.
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        }
        run = subprocess.run(
            [
                *("docker", "exec", "-i", "-u", operator, "-w", home),
                *(arg for name, value in environment.items() for arg in ("-e", f"{name}={value}")),
                *(machine.container, "bash", "/var/tmp/site/steps.sh"),
            ],
            input=site["deploy_password"].encode(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = log.read_text(errors="replace")
    times = re.findall(r"^<== (step \d+: \d+ s)$", text, re.M)
    print(
        f"{args.steps}: {len(times)} of {len(steps)} steps in {time.monotonic() - start:.0f} s "
        f"(exit {run.returncode}); log: {log}"
    )
    for line in times:
        print(f"  {line}")
    if run.returncode:
        print(text[-6000:])
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
