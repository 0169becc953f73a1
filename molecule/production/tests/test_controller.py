"""The controller: a plain user with no sudo ran every step, and owns everything they made;
a second deploy changes nothing; --check --diff previews a host that has nothing yet."""

from __future__ import annotations

import time

from conftest import CHECKOUT, as_operator, machine, recap, run_ok, secret, site, steps_log

DEPLOY = (
    ".venv/bin/ansible-playbook -i inventory/{inventory} playbooks/deploy.yml "
    "--vault-id production@~/.facefleet/production.vault-pass"
)


def test_the_operator_has_no_sudo_on_the_controller() -> None:
    controller = site()["controller"]
    listing = machine(controller).run(f"sudo -l -U {site()['operator_user']}").stdout
    assert "is not allowed to run sudo" in listing


def test_no_controller_step_tried_sudo() -> None:
    """Had any controller-side task tried to become root, sudo would have logged the
    operator's attempt ("operator : user NOT in sudoers ...")."""
    journal = run_ok(site()["controller"], "journalctl --no-pager -o cat _COMM=sudo")
    by_operator = [
        line
        for line in journal.splitlines()
        if line.split(" : ")[0].strip() == site()["operator_user"]
    ]
    assert by_operator == [], journal


def test_no_file_the_operator_made_belongs_to_root() -> None:
    home = f"/home/{site()['operator_user']}"
    for name in (site()["controller"], site()["baremetal"]):
        owned = run_ok(name, f"find {home}/{CHECKOUT} {home}/.facefleet -user root")
        assert owned == "", f"{name}: {owned}"
        assert run_ok(name, f"test -d {home}/{CHECKOUT}/.venv && echo yes").strip() == "yes"


def test_the_readme_steps_all_ran() -> None:
    log = steps_log("production")
    assert "<== step 12:" in log, log[-3000:]
    status = log.split("==> step 9:")[1].split("<== step 9:")[0]
    for worker in site().group("workers"):
        assert f"celery1@{worker.name}" in status  # status.yml's table lists the worker
    assert "workers running: 2/2" in status  # profile light: 2 workers


def test_a_second_deploy_changes_nothing() -> None:
    start = time.monotonic()
    result = as_operator(site()["controller"], DEPLOY.format(inventory="production"))
    assert result.rc == 0, result.stdout[-4000:]
    counts = recap(result.stdout)
    assert set(counts) == {h.name for h in site().fleet}, result.stdout[-2000:]
    for host, numbers in counts.items():
        assert (numbers["changed"], numbers["failed"]) == (0, 0), (host, numbers)
    print(f"second deploy over SSH: changed=0 in {time.monotonic() - start:.0f} s")


def test_check_diff_previews_a_fresh_host_and_changes_nothing() -> None:
    """The operator adds a host that has nothing installed (not even Python) to a copy of
    the inventory and previews the deploy."""
    fresh = site().fresh
    controller = site()["controller"]
    redis = site().group("redis")[0].name
    before = run_ok(redis, "sha1sum /etc/redis/redis.conf /etc/nftables.conf")
    add_host = (
        "rm -rf inventory/preview && cp -r inventory/production inventory/preview && "
        '.venv/bin/python -c \'import sys, yaml; p = "inventory/preview/hosts.yml"; '
        "d = yaml.safe_load(open(p)); "
        'd["all"]["children"]["facefleet"]["children"]["workers"]["hosts"]'
        f'["{fresh.name}"] = {{"ansible_host": "{fresh.public}"}}; '
        'yaml.safe_dump(d, open(p, "w"))\''
    )
    assert as_operator(controller, add_host).rc == 0
    result = as_operator(controller, DEPLOY.format(inventory="preview") + " --check --diff")
    assert result.rc == 0, result.stdout[-6000:]
    counts = recap(result.stdout)
    assert counts[fresh.name]["failed"] == 0
    assert counts[fresh.name]["changed"] > 10  # everything it would install
    # Its settings file (with the Redis password) is previewed without its content, and
    # no secret of the vault appears anywhere in the preview.
    assert "(new secret: not shown)" in result.stdout
    for name in ("vault_redis_password", "vault_redis_admin_password", "vault_flower_password"):
        assert secret("controller", name) not in result.stdout, name
    # Nothing was installed on the fresh host but the Python the preview needs ...
    packages = machine(fresh.name).run(
        "dpkg-query -W -f '${Status}\\n' supervisor redis-server nginx nftables python3-venv"
    )
    assert "install ok installed" not in packages.stdout, packages.stdout
    assert not machine(fresh.name).file("/etc/facefleet").exists
    # ... and the deployed hosts are as they were.
    assert run_ok(redis, "sha1sum /etc/redis/redis.conf /etc/nftables.conf") == before
