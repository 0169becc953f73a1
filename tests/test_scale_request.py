"""Profile and override resolution for scale.yml (plugins/filter/scale_request.py)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.facefleet.fleet.plugins.filter import scale_request as module
from conftest import REPO

PROFILES = yaml.safe_load((REPO / "roles/celery_worker/defaults/main.yml").read_text())[
    "celery_worker_profiles"
]
CURRENT = {"workers": 2, "concurrency": 4, "pool": "prefork", "memory_mb": 1024, "profile": "light"}


def test_profiles_follow_the_seed_guide() -> None:
    table = {
        name: (p["min_workers"], p["workers"], p["concurrency"], p["memory_mb"])
        for name, p in PROFILES.items()
    }
    assert table == {
        "light": (1, 2, 4, 500),  # the seed's ~500 MB, measured in app/README.md
        "medium": (3, 4, 4, 1024),
        "heavy": (5, 8, 4, 2048),
        "maximum": (10, 10, 4, 2048),
    }


def test_profile_picks_its_numbers() -> None:
    assert module.scale_request(PROFILES, "heavy", current=CURRENT) == {
        "profile": "heavy",
        "base": "heavy",
        "workers": 8,
        "concurrency": 4,
        "pool": "prefork",
        "memory_mb": 2048,
    }


def test_workers_alone_keeps_the_current_rest() -> None:
    request = module.scale_request(PROFILES, workers="5", current=CURRENT)
    assert (request["workers"], request["concurrency"], request["memory_mb"]) == (5, 4, 1024)
    assert (request["profile"], request["base"]) == ("custom", "light")
    again = module.scale_request(PROFILES, workers="5", current={**CURRENT, **request})
    assert again == request
    # The base profile survives numbers on top of a profile: autoscale keeps its range.
    medium = module.scale_request(PROFILES, "medium", current=CURRENT)
    assert module.scale_request(PROFILES, workers="3", current=medium)["base"] == "medium"


def test_overrides_beat_the_profile() -> None:
    request = module.scale_request(PROFILES, "medium", "3", "2", "threads", CURRENT)
    assert (request["workers"], request["concurrency"], request["pool"]) == (3, 2, "threads")
    assert request["memory_mb"] == 1024
    assert request["profile"] == "medium+overrides"


def test_first_scale_without_saved_state_needs_a_number() -> None:
    with pytest.raises(module.ScaleRequestError, match="-e profile=NAME"):
        module.scale_request(PROFILES)
    assert module.scale_request(PROFILES, workers=3)["memory_mb"] == 500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "huge"}, "unknown profile 'huge'; profiles: heavy, light, maximum, medium"),
        ({"workers": "-1"}, "workers must be at least 0"),
        ({"workers": "many"}, "workers must be a whole number"),
        ({"concurrency": "0"}, "concurrency must be at least 1"),
        ({"pool": "gevent"}, "pool must be one of prefork, threads, solo"),
    ],
)
def test_bad_requests_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(module.ScaleRequestError, match=message):
        module.scale_request(PROFILES, current=CURRENT, **kwargs)
