"""The batches the README's last step sent, from the controller (production) and on the
operator's own machine (bare metal): every photo back once, with the right names."""

from __future__ import annotations

import json

import pytest
from conftest import CHECKOUT, run_ok, site


@pytest.mark.parametrize("operator_machine", ["controller", "baremetal"])
def test_the_batch_named_the_people(operator_machine: str) -> None:
    name = site()[operator_machine]
    out = run_ok(name, f"cat /home/{site()['operator_user']}/{CHECKOUT}/results.jsonl")
    results = [json.loads(line) for line in out.splitlines()]
    by_photo = {r["image"].rsplit("/", 1)[-1]: r for r in results}
    assert len(results) == len(by_photo) == len(site()["photos"]["batch"])
    for photo, names in site()["photos"]["batch"].items():
        result = by_photo[photo]
        assert result["status"] == "ok", result
        faces = sorted(result["faces"], key=lambda f: f["box"][3])
        assert [f["name"] for f in faces] == names, photo
