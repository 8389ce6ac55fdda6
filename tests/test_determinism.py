"""The same spec and parameters give byte-identical outputs in every process.

Two fresh interpreters, with different hash seeds and working folders, print
every artefact aggspec makes of a spec (the GraphModule's code, the emitted
file, the DOT source, the JSON analysis, the parameter values after
initialisation); the two outputs must be equal byte for byte. Random
connectivity (``randwire.agg``) is included: its graph comes from its seed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, ROOT

PROGRAM = r"""
import hashlib, json, sys
import torch
import aggspec
from aggspec.analysis.report import analyze
from aggspec.pytorch.source import emit_source
from aggspec.viz.graphviz import draw

for path in sys.argv[1:]:
    spec = aggspec.load(path)
    model = aggspec.build(spec)
    weights = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()
    print(path)
    print(model.code)
    print(emit_source(spec))
    print(draw(spec, "layer").source)
    print(json.dumps(analyze(spec).to_dict(), sort_keys=True))
    print(weights)
"""

CASES = ["randwire.agg", "sparsenet_cifar.agg", "plain.agg"]


def _artefacts(seed: str, folder: Path) -> str:
    folder.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    paths = [
        os.path.relpath(EXAMPLES / name, folder) for name in CASES
    ]  # as a user in that folder types them
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *paths],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_two_processes_make_the_same_bytes(tmp_path: Path) -> None:
    first = _artefacts("1", tmp_path / "a")
    second = _artefacts("4242", tmp_path / "b")
    assert hashlib.sha256(first.encode()).hexdigest() == hashlib.sha256(second.encode()).hexdigest()
    assert str(tmp_path) not in first  # no absolute path of this machine in any artefact
    assert "SOURCE = '../" in first  # the spec path as the user gave it
