"""Real photos in, correct names out, through the deployed fleet: the batch goes from the
controller (this test process) to Redis at its fleet address, with the settings deploy.yml
wrote for this controller, as `facefleet submit` does for an operator."""

from __future__ import annotations

from conftest import controller_settings, enrol_known, named_batch


def test_batch_of_real_photos_gets_the_right_names(worker_hosts: list[str]) -> None:
    settings = controller_settings()
    enrol_known(settings)
    by_photo = named_batch(settings)
    workers = {r["worker"].split("@")[1] for r in by_photo.values()}
    assert workers <= set(worker_hosts)
