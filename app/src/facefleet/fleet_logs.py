"""``facefleet logs -i INVENTORY``: every worker's log on every host at once, on the
controller; the fleet's counterpart of ``docker-compose logs -f celery``.

Each host runs ``facefleet workers logs`` (facefleet.worker_logs), which prefixes each
line with its worker's node (``celery1@worker1``: host and worker). This module only
finds the hosts in the inventory (``ansible-inventory``), reaches each as Ansible would
(ssh, docker exec, or locally), and interleaves what they print as it comes.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

# The host-side command (the app role links it into /usr/local/bin).
HOST_COMMAND = "facefleet"


def _ansible_tool(name: str) -> str:
    """An Ansible tool next to this Python (the controller's venv), else on the PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def inventory_hosts(inventory: str, group: str) -> dict[str, dict[str, Any]]:
    """The hosts of ``group`` (children included) with their variables."""
    listing = subprocess.run(
        [_ansible_tool("ansible-inventory"), "-i", inventory, "--list"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise RuntimeError(f"ansible-inventory -i {inventory}: {listing.stderr.strip()}")
    data = json.loads(listing.stdout)

    def members(name: str) -> list[str]:
        node = data.get(name, {})
        found = list(node.get("hosts", []))
        for child in node.get("children", []):
            found += members(child)
        return found

    hostvars = data.get("_meta", {}).get("hostvars", {})
    return {name: hostvars.get(name, {}) for name in dict.fromkeys(members(group))}


def remote_command(name: str, hostvars: dict[str, Any], arguments: list[str]) -> list[str]:
    """The command that runs ``facefleet workers logs ...`` on the host, as Ansible's
    connection to it would: docker exec, ssh (with sudo unless it logs in as root), or
    locally."""
    command = [HOST_COMMAND, "workers", "logs", *arguments]
    connection = str(hostvars.get("ansible_connection", "ssh")).rpartition(".")[2]
    address = str(hostvars.get("ansible_host", name))
    if connection == "docker":
        return ["docker", "exec", address, *command]
    if connection == "local":
        return command
    user = hostvars.get("ansible_user")
    ssh = ["ssh", "-o", "BatchMode=yes"]
    if hostvars.get("ansible_port"):
        ssh += ["-p", str(hostvars["ansible_port"])]
    if user:
        ssh += ["-l", str(user)]
    sudo = [] if user in (None, "root") else ["sudo", "-n"]
    return [*ssh, address, shlex.join([*sudo, *command])]


def follow_fleet(inventory: str, group: str, lines: int | None, since: str | None) -> int:
    """Run the host command on every host of ``group`` and print what they print."""
    try:
        hosts = inventory_hosts(inventory, group)
    except RuntimeError as exc:
        print(f"facefleet: {exc}", file=sys.stderr)
        return 2
    if not hosts:
        print(f"facefleet: no host in group {group!r} of {inventory}", file=sys.stderr)
        return 2
    arguments = (["-n", str(lines)] if lines is not None else []) + (
        ["--since", since] if since else []
    )
    lock = threading.Lock()
    out = sys.stdout.buffer
    procs = {
        name: subprocess.Popen(
            remote_command(name, hostvars, arguments),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, hostvars in hosts.items()
    }

    def relay(name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                out.write(line)
                out.flush()

    threads = [threading.Thread(target=relay, args=item, daemon=True) for item in procs.items()]
    for thread in threads:
        thread.start()
    failed = 0
    try:
        for name, proc in procs.items():
            proc.wait()
            if proc.returncode != 0:
                failed += 1
                error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                print(f"facefleet: {name}: {error or f'exit {proc.returncode}'}", file=sys.stderr)
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        for proc in procs.values():
            proc.terminate()
        return 130
    return 1 if failed else 0
