"""The celery_worker role starts each worker with flags that facefleet.worker_main
accepts, and the same ones the tests and benchmarks start it with (worker_main.argv)."""

from __future__ import annotations

import re
import shlex

from conftest import REPO
from facefleet import worker_main

TEMPLATE = REPO / "roles" / "celery_worker" / "templates" / "workers.conf.j2"


def test_the_programs_command_line_is_the_entry_points() -> None:
    command = re.search(r"^command=(.*facefleet\.worker_main.*)$", TEMPLATE.read_text(), re.M)
    assert command, "workers.conf.j2 no longer starts facefleet.worker_main"
    # Each Jinja expression stands for one value.
    args = shlex.split(re.sub(r"\{\{[^}]*\}\}", "X", command.group(1)))
    assert args[:3] == ["X/bin/python", "-m", "facefleet.worker_main"]
    flags = {a.split("=", 1)[0] for a in args[3:]}
    assert flags == {a.split("=", 1)[0] for a in worker_main.argv("prefork", 4, "n@h")[3:]}
    options = worker_main._parser().parse_args(
        [a.replace("=X", "=4") if a.startswith("--concurrency") else a for a in args[3:]]
    )
    assert options.hostname == "X"
