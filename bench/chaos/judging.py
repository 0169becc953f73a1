"""Whether every image got exactly one final result, the right one.

Lost: an image without its right final result (no result, a result the disruption
caused, or a wrong one). Duplicates: extra results for one image."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from chaos.batches import Batch


@dataclass
class Outcome:
    scenario: str
    images: int
    results: int = 0
    ok: int = 0
    errors: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Figures a scenario adds to the table (bulk: Redis' peak memory, refused writes...).
    figures: dict[str, str] = field(default_factory=dict)


def judge(batch: Batch, output: str, outcome: Outcome) -> None:
    by_image: dict[str, list[dict]] = {}
    for line in output.splitlines():
        record = json.loads(line)
        by_image.setdefault(record["image"], []).append(record)
    outcome.results += sum(len(v) for v in by_image.values())
    outcome.duplicates += sum(len(v) - 1 for v in by_image.values() if len(v) > 1)
    strays = set(by_image) - set(batch.expect)
    if strays:
        outcome.problems.append(f"{len(strays)} results for images never sent")
    wrong: list[str] = []
    for image, expect in batch.expect.items():
        records = by_image.get(image, [])
        if not records:
            outcome.lost += 1
            continue
        record = records[0]
        if record["status"] == "ok":
            outcome.ok += 1
        else:
            outcome.errors += 1
        if expect == "error":
            good = record["status"] == "error" and bool(record.get("error"))
        elif record["status"] != "ok":
            good = False
        else:
            names = {f["name"] for f in record["faces"] if f.get("name")}
            good = expect is None or names == expect
        if not good:
            outcome.lost += 1
            wrong.append(f"{Path(image).name}: {record.get('error') or record.get('faces')}")
    if wrong:
        outcome.problems.append(f"wrong or failed results, e.g. {wrong[:3]}")
