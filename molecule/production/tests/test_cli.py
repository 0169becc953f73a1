"""The host CLI for an operator logged in as the deploy user: one line and a non-zero exit
when the settings are not theirs to read, the group to use named; with it, the status."""

from __future__ import annotations

import shlex

from conftest import machine, role_default, site

CLI = f"{role_default('fleet_app_venv')}/bin/facefleet"


def _as_deploy(command: str, sudo_group: str | None = None) -> object:
    deploy, password = site()["deploy_user"], site()["deploy_password"]
    if sudo_group:
        typed = f"printf '%s\\n' {shlex.quote(password)}"
        command = f"{typed} | sudo -S -p '' -g {sudo_group} {command}"
    return machine(site().group("workers")[0].name).run(
        f"runuser -l {deploy} -c {shlex.quote(command)}"
    )


def test_version() -> None:
    result = _as_deploy(f"{CLI} --version")
    assert result.rc == 0
    assert result.stdout.startswith("facefleet 0.1.0+src.")


def test_without_the_group_one_line_naming_it() -> None:
    group = role_default("fleet_app_group")
    result = _as_deploy(f"{CLI} status")
    assert result.rc == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "permission denied" in result.stderr
    assert f"sudo -g {group}" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_the_group_the_status() -> None:
    result = _as_deploy(f"{CLI} status", sudo_group=role_default("fleet_app_group"))
    assert result.rc == 0, result.stderr
    assert f"@{site().group('workers')[0].name}" in result.stdout


def test_redis_unreachable_is_one_line() -> None:
    result = _as_deploy(
        f"env FACEFLEET_REDIS_URL=rediss://127.0.0.1:9/0 {CLI} status",
        sudo_group=role_default("fleet_app_group"),
    )
    assert result.rc == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cannot reach Redis" in result.stderr
