"""The capacity_facts module, run on this machine as Ansible runs it on a host: the
vCPUs and memory it reads are the ones Ansible's own setup module reports here, and
the local facts are each JSON file's content, by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import run_module


def setup_facts(folder: Path) -> dict:
    """Ansible's setup module on this machine, the hardware subset, as ansible-playbook
    would run it (the venv's `ansible` and Python, the local connection, no ansible.cfg)."""
    (folder / "ansible.cfg").write_text("[defaults]\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "localhost",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "ansible.builtin.setup",
            "-a",
            "gather_subset=!all,!min,hardware",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        env=dict(
            os.environ,
            ANSIBLE_CONFIG=str(folder / "ansible.cfg"),
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ),
    )
    [play] = json.loads(done.stdout)["plays"]
    return play["tasks"][0]["hosts"]["localhost"]["ansible_facts"]


def test_the_capacity_is_what_setup_reports(tmp_path: Path) -> None:
    facts = run_module("capacity_facts", {"fact_path": str(tmp_path)})["ansible_facts"]
    expected = setup_facts(tmp_path)
    assert facts["processor_vcpus"] == expected["ansible_processor_vcpus"]
    assert facts["memtotal_mb"] == expected["ansible_memtotal_mb"]
    assert facts["ansible_local"] == {}


def test_local_facts_are_each_files_json_by_name(tmp_path: Path) -> None:
    scale = {"scale": {"workers": 3, "pool": "prefork"}, "workers": [{"program": "w-1"}]}
    (tmp_path / "workers.fact").write_text(json.dumps(scale))
    (tmp_path / "app.fact").write_text('{"release": "abc-123"}\n')
    (tmp_path / "notes.txt").write_text("not a fact file")
    result = run_module("capacity_facts", {"fact_path": str(tmp_path)})
    assert result["changed"] is False
    assert result["ansible_facts"]["ansible_local"] == {
        "app": {"release": "abc-123"},
        "workers": scale,
    }


def test_a_broken_fact_file_is_named_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "app.fact").write_text("release = abc\n")
    (tmp_path / "workers.fact").write_text('{"scale": {}}')
    result = run_module("capacity_facts", {"fact_path": str(tmp_path)})
    local = result["ansible_facts"]["ansible_local"]
    assert local["workers"] == {"scale": {}}
    assert str(local["app"]).startswith("error loading facts as JSON")
    assert f"local fact {tmp_path / 'app.fact'} is not readable JSON" in json.dumps(
        result["warnings"]
    )
