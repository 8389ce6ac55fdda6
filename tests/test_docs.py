"""Every ```agg block in the README and docs/ is a spec that elaborates, builds and runs forward."""

from __future__ import annotations

import re

import pytest
import torch

from aggspec import analyze, build, loads

from .conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```agg\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for number, match in enumerate(BLOCK.finditer(path.read_text()), start=1):
            found.append((f"{path.name}#{number}", match.group(1)))
    return found


def test_docs_have_examples() -> None:
    assert len(blocks()) >= 12


@pytest.mark.parametrize(("where", "source"), blocks(), ids=[b[0] for b in blocks()])
def test_doc_example_elaborates(where: str, source: str) -> None:
    spec = loads(source, filename=where)
    assert spec.graph.number_of_nodes() > 1
    if analyze(spec).macs > 200_000_000:
        return  # elaborated and shape-checked; too costly to run in the test suite
    with torch.no_grad():
        output = build(spec).eval()(torch.randn(1, *spec.input_shape))
    assert tuple(output.shape[1:]) == spec.output_shape
