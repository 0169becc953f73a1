"""The gallery outlives its Redis: enrol people, back them up to the controller
(playbooks/backup.yml), lose all of Redis' data (its AOF and snapshot files, as a Redis
host rebuilt from scratch has none), restore (playbooks/restore.yml), and every enrolled
person is named again. And the lab's backup timer takes backups on the backup host.

In the chaos folder: it wipes Redis, so it runs after every other verifier."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tests"
sys.path.insert(0, str(SHARED))

from conftest import (  # noqa: E402
    controller_settings,
    enrol_known,
    host,
    hosts_in,
    named_batch,
    playbook,
    role_vars,
    run_ok,
)


def _people(settings: object) -> dict[str, int]:
    from facefleet.gallery_store import GalleryStore
    from facefleet.redis_client import connect

    store = GalleryStore(connect(settings), settings.gallery_key)  # type: ignore[attr-defined]
    return store.people()


def _wipe_redis(names: list[str]) -> None:
    """Stop every Redis (the primary and its replicas), delete everything in their data
    folders, start them: empty Redis servers with the same configuration (their ACL users
    come from deploy.yml's files)."""
    for name in names:
        run_ok(host(name), "systemctl stop redis-server")
    for name in names:
        data = role_vars(name)["redis_dir"]
        run_ok(host(name), f"find {data} -mindepth 1 -delete && systemctl start redis-server")


def _eventually(check: object, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()  # type: ignore[operator]
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_backup_lose_redis_restore_and_everyone_is_named_again(tmp_path: Path) -> None:
    settings = controller_settings()
    enrol_known(settings)
    enrolled = _people(settings)
    assert enrolled, "nothing enrolled"

    backup = playbook("backup.yml", "-e", f"app_backup_dir={tmp_path}")
    assert backup.returncode == 0, backup.stdout[-3000:]
    [saved] = tmp_path.glob("gallery-*.json")
    assert saved.stat().st_mode & 0o777 == 0o600
    assert f"gallery backup {saved}:" in backup.stdout  # where the operator finds it
    assert sorted(json.loads(saved.read_text())["people"]) == sorted(enrolled)

    _wipe_redis(hosts_in("redis"))
    assert _eventually(lambda: _people(settings)) == {}, "Redis kept its data"

    restore = playbook("restore.yml", "-e", f"app_backup_dir={tmp_path}")
    assert restore.returncode == 0, restore.stdout[-3000:]
    assert "gallery restored from" in restore.stdout
    assert _people(settings) == enrolled
    # The workers, which had the gallery cached from before Redis lost it, name everyone.
    named_batch(settings)


def test_the_timer_takes_backups_on_the_backup_host() -> None:
    name = role_vars(hosts_in("workers")[0])["app_backup_host"]
    settings = role_vars(name)
    assert settings["app_backup_timer"], "the lab turns the backup timer on"
    backup_host = host(name)
    assert backup_host.service("facefleet-gallery-backup.timer").is_enabled
    assert backup_host.service("facefleet-gallery-backup.timer").is_running
    folder = settings["app_backup_host_dir"]
    before = set(run_ok(backup_host, f"ls {folder}").split())
    time.sleep(1)  # backups are named by the second
    run_ok(backup_host, "systemctl start facefleet-gallery-backup.service")
    after = set(run_ok(backup_host, f"ls {folder}").split())
    new = after - before
    assert len(new) == 1, (before, after)
    made = backup_host.file(f"{folder}/{new.pop()}")
    assert (made.user, made.mode) == (settings["fleet_app_user"], 0o600)
    assert len(after) <= int(settings["app_backup_host_keep"])
