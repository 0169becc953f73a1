"""A deployed fleet whose hosts are containers on this Docker host: the lab (inventory/lab)
or a Molecule scenario's. The demo, the benchmarks and the chaos suite reach it through
here, as an operator's controller would:

- Redis with the settings every deploy writes for this controller's CLI
  (~/.facefleet/<inventory>.toml, the app role's app_client_config): the fleet address,
  the password, and TLS with the fleet's CA when the fleet has it on;
- the hosts' own tools over `docker exec` (`facefleet workers status` for each host's
  workers, as the celery_worker role declared them: no name is made here);
- Ansible from this venv (the tools beside this Python, whatever PATH says).

    from fleet import Fleet
    fleet = Fleet.from_inventory()          # the lab
    fleet.playbook("scale.yml", "-e", "workers=5")
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "inventory" / "lab"
# The Ansible and app commands of this venv.
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "app" / "bench"))

from facefleet.settings import Settings, load_settings  # noqa: E402
from role_values import role_default  # noqa: E402


def docker(*argv: str, check: bool = True) -> str:
    return subprocess.run(
        ["docker", *argv], check=check, capture_output=True, text=True
    ).stdout.strip()


def _run(*argv: str, cwd: Path = REPO) -> str:
    result = subprocess.run(
        [*argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": str(Path.home()),
            "ANSIBLE_FORCE_COLOR": "0",
            # The controller's wheelhouse cache, as make sets it (the checkout's .cache):
            # without it a deploy from here built the app again in ~/.cache/facefleet,
            # and reported that build as a change (the failover scenario's deploy.yml).
            "FACEFLEET_CACHE_DIR": os.environ.get("FACEFLEET_CACHE_DIR", str(REPO / ".cache")),
            # Molecule's verifiers name the installed collection the scenario was deployed
            # from: the playbooks then run those roles (and build that app), not the checkout's.
            **{k: v for k, v in os.environ.items() if k == "ANSIBLE_COLLECTIONS_PATH"},
        },
    )
    if result.returncode:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


@dataclass
class Fleet:
    inventory: Path
    containers: dict[str, str]  # inventory host -> container
    groups: dict[str, list[str]]
    # Hosts being stopped in the background (stop_redis_host): host -> its `docker stop`.
    stopping: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_inventory(cls, inventory: Path = LAB) -> Fleet:
        listing = json.loads(_run(str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"))
        hostvars = listing["_meta"]["hostvars"]
        # The lab names its containers in ansible_host; Molecule names them as the hosts.
        containers = {host: hostvars[host].get("ansible_host", host) for host in hostvars}
        groups = {
            name: sorted(body.get("hosts", []))
            for name, body in listing.items()
            if name != "_meta" and isinstance(body, dict)
        }
        return cls(inventory, containers, groups)

    @property
    def name(self) -> str:
        """The inventory's name, as the roles name its files on the controller."""
        folder = self.inventory if self.inventory.is_dir() else self.inventory.parent
        return folder.name

    @functools.cached_property
    def settings(self) -> Settings:
        """This controller's settings for the fleet, as the last deploy wrote them."""
        path = Path.home() / ".facefleet" / f"{self.name}.toml"
        if not path.is_file():
            raise RuntimeError(f"{path} is missing: deploy the fleet first (make demo)")
        return load_settings(environ={}, config_path=path)

    @functools.cached_property
    def vault(self) -> dict[str, str]:
        """The lab's secrets (its vault and password are committed, lab-only)."""
        text = _run(
            str(BIN / "ansible-vault"), "view", str(LAB / "group_vars" / "all" / "vault.yml")
        )
        return yaml.safe_load(text)

    def playbook(self, name: str, *argv: str) -> str:
        """Run playbooks/<name> against this fleet; its output."""
        return _run(
            str(BIN / "ansible-playbook"), "-i", str(self.inventory), f"playbooks/{name}", *argv
        )

    @property
    def workers(self) -> list[str]:
        return self.groups["workers"]

    def exec(self, host: str, *argv: str, check: bool = True) -> str:
        return docker("exec", self.containers[host], *argv, check=check)

    def address(self, host: str) -> str:
        return docker(
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            self.containers[host],
        )

    @functools.cached_property
    def web_base(self) -> str:
        """The operators' entry point (nginx on the first Flower host), as https://addr[:port]."""
        port = int(role_default("fleet_https_port"))
        shown = "" if port == 443 else f":{port}"
        return f"https://{self.address(self.groups['flower'][0])}{shown}"

    def web_json(self, path: str) -> Any:
        """GET ``path`` from the entry point as an operator: basic auth, and nginx's
        certificate verified against the fleet's CA."""
        import base64
        import ssl
        import urllib.request

        ca = Path.home() / ".facefleet" / self.name / "pki" / "ca.crt"
        token = f"{self.vault['vault_flower_user']}:{self.vault['vault_flower_password']}"
        request = urllib.request.Request(
            self.web_base + path,
            headers={"Authorization": "Basic " + base64.b64encode(token.encode()).decode()},
        )
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return json.loads(answer.read())

    def host_workers(self, host: str) -> list[dict[str, Any]]:
        """`facefleet workers status`: the host's workers (program, node, state, pid ...)."""
        cli = f"{role_default('fleet_app_venv')}/bin/facefleet"
        out = self.exec(
            host, cli, "workers", "--file", role_default("fleet_workers_file"), "status", "--json"
        )
        return json.loads(out)

    def nodes(self) -> list[str]:
        """The Celery nodes the worker hosts run now, as their workers.fact names them."""
        return sorted(w["node"] for host in self.workers for w in self.host_workers(host))

    def worker_pids(self, host: str) -> dict[int, int]:
        """Every Celery worker process on ``host`` (main processes and pool children):
        pid -> parent pid."""
        out = self.exec(host, "ps", "-eo", "pid=,ppid=,args=", check=False)
        return {
            int(pid): int(ppid)
            for pid, ppid, args in (line.split(None, 2) for line in out.splitlines())
            if "-m facefleet.worker_main" in args
        }

    def fixed_address(self, host: str) -> str:
        """The address the host's container was given (the lab's and Molecule's are fixed,
        as VMs' are): known while the container is stopped too."""
        return docker(
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{if .IPAMConfig}}"
            "{{.IPAMConfig.IPv4Address}}{{end}}{{end}}",
            self.containers[host],
        )

    def redis_admin(self, host: str) -> Any:
        """The Redis on ``host``, at its fleet address, as the admin user (every command)."""
        import redis
        from facefleet.redis_client import address_tls_options

        # One try: redis-py 8 tries a connection 11 times by default, so a stopped host
        # (5 s to connect each time) looked alive for a minute.
        return redis.Redis(
            host=self.address(host),
            port=int(role_default("fleet_redis_port")),
            username=role_default("fleet_redis_admin_user"),
            password=self.vault["vault_redis_admin_password"],
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=None,  # no retries, as redis_client.sentinel_options says it
            **address_tls_options(self.settings),
        )

    def stop_redis_host(self, host: str, limit: float = 60) -> tuple[float, float]:
        """Stop the host's container as a host shuts down (`docker stop`, left running in
        the background: systemd stops its services first, which takes seconds). Returns
        two moments (monotonic): the stop, and when its Redis stopped answering (a
        Redis that is shutting down first waits for its replica to catch up).
        start_host brings it back."""
        import threading
        import time

        import redis

        stopping = threading.Thread(
            target=docker, args=("stop", "--time", "30", self.containers[host]), daemon=True
        )
        admin = self.redis_admin(host)
        stopped = time.monotonic()
        stopping.start()
        self.stopping[host] = stopping
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline:
                try:
                    admin.ping()
                except redis.exceptions.RedisError:
                    break
                time.sleep(0.1)
        finally:
            admin.close()
        return stopped, time.monotonic()

    def start_host(self, host: str) -> None:
        """Start the host's container again, once a stop_redis_host has finished."""
        stopping = self.stopping.pop(host, None)
        if stopping is not None:
            stopping.join()
        docker("start", self.containers[host])

    def wait_until_replica(self, host: str, limit: float = 120) -> float:
        """Wait until the Redis on ``host`` is a replica whose link to the primary is up,
        and return the seconds that took; TimeoutError says what it was last."""
        import time

        import redis

        start = time.monotonic()
        state = "not asked"
        while time.monotonic() - start < limit:
            admin = self.redis_admin(host)
            try:
                info = admin.info("replication")
            except redis.exceptions.RedisError as exc:
                state = repr(exc)
            else:
                state = f"{info['role']}, link {info.get('master_link_status')}"
                if info["role"] == "slave" and info.get("master_link_status") == "up":
                    return time.monotonic() - start
            finally:
                admin.close()
            time.sleep(0.5)
        raise TimeoutError(f"{host} is not a replica after {limit:.0f} s: {state}")

    @property
    def replicated(self) -> bool:
        """Redis has replicas and Sentinels (the redis role's replication)."""
        return bool(self.settings.redis_sentinels)

    def redis_primary(self) -> str:
        """The host whose Redis the Sentinels name as the primary now."""
        from facefleet.redis_client import primary_address

        address, _port = primary_address(self.settings)
        by_address = {self.fixed_address(host): host for host in self.groups["redis"]}
        return by_address[address]
