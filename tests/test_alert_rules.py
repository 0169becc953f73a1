"""facefleet's alert rules, rendered as the monitoring role renders them (its
alert_rules entry point, with its defaults; promtool checks them as the hosts do), then
unit-tested with `promtool test rules` (tests/alert_rules.test.yml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

RENDER = """
- name: Render facefleet's alert rules with the monitoring role's defaults
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write the rules as the role does
      ansible.builtin.include_role:
        name: facefleet.fleet.monitoring
        tasks_from: alert_rules
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing (apt-get install prometheus; make setup does)")
    folder = tmp_path_factory.mktemp("rules")
    (folder / "render.yml").write_text(RENDER)
    # The controller as the one fleet host: the fleet role's defaults need a fleet group.
    (folder / "hosts").write_text(
        "[facefleet]\nlocalhost ansible_connection=local"
        ' ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
    )
    out = folder / "facefleet.yml"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(folder / "hosts"),
            str(folder / "render.yml"),
            "-e",
            f"monitoring_rules_file={out}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
    )
    return out


def test_every_alert_the_role_writes_has_a_unit_test(rules: Path) -> None:
    written = {r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((REPO / "tests" / "alert_rules.test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"]}
    assert written == tested
    assert len(written) == 8


def test_promtool_passes_the_unit_tests(rules: Path, tmp_path: Path) -> None:
    cases = (REPO / "tests" / "alert_rules.test.yml").read_text()
    suite = tmp_path / "alert_rules.test.yml"
    suite.write_text(cases.replace("rule_files: [RULES]", f"rule_files: [{rules}]"))
    run = subprocess.run(["promtool", "test", "rules", str(suite)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
