"""The experiment scripts run end to end (their --quick mode) and write nothing unless asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.mark.slow
@pytest.mark.parametrize("script", ["aggregation.py", "depth.py"])
def test_quick_mode_runs_and_leaves_the_docs_alone(tmp_path: Path, script: str) -> None:
    results = ROOT / "docs" / "results.md"
    before = results.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), "--quick", "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert results.read_text() == before
    records = json.loads((tmp_path / "r.json").read_text())
    variants = {"chain", "dense-sum", "dense-concat", "exp-concat", "exp-sum"}
    if script == "aggregation.py":
        outcomes = records["outcomes"]
        assert {o["sized"]["variant"]["key"] for o in outcomes} == variants
        budget = records["setup"]["budget"]
        assert all(abs(o["sized"]["params"] - budget) <= 0.1 * budget for o in outcomes)
        assert all(0.0 <= acc <= 1.0 for o in outcomes for acc in o["final_val_acc"])
    else:
        trials = records["trials"]
        assert {t["variant"] for t in trials} == variants
        assert {t["depth"] for t in trials} == set(records["setup"]["depths"])
        assert all(t["grad_stem"] > 0 for t in trials if not t["skipped"])
