"""Every example elaborates, and the real architectures match their reference figures."""

from __future__ import annotations

import pytest

from aggspec import load
from aggspec.analysis.counts import parameter_count
from aggspec.ir import inputs_of, verify

from .conftest import EXAMPLES

ALL_EXAMPLES = sorted(EXAMPLES.glob("*.agg"))


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_every_example_elaborates(path) -> None:
    spec = load(path)
    assert spec.graph.number_of_nodes() > 1
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert len(header) >= 3, "each example starts with a comment saying what it is and its figures"


# Every example with its defaults, and -D variants that change the structure
# (merge kind, bottlenecks, a list param, recursion depth, random graph seed).
VARIANTS = [(path.name, {}) for path in ALL_EXAMPLES] + [
    ("sparsenet_cifar.agg", {"merge": "sum", "bottleneck": False, "depth": 40}),
    ("sparsenet_cifar.agg", {"depth": 100, "bottleneck": False, "growth": [16, 32, 64]}),
    ("densenet_cifar.agg", {"depth": 100, "bottleneck": True}),
    ("fractalnet.agg", {"columns": 4}),
    ("randwire.agg", {"nodes": 16, "seed": 7}),
    ("preact_resnet.agg", {"depth": 20}),
    ("plain.agg", {"depth": 1}),
]


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=lambda v: str(v))
def test_every_example_ir_verifies(name: str, overrides: dict) -> None:
    verify(load(EXAMPLES / name, **overrides).graph)


# (file, overrides, parameters, output shape). The exact counts are the
# references in shared/design/references.md; each appears in its file's header.
REFERENCES = [
    ("resnet18.agg", {}, 11_689_512, (1000,)),
    ("resnet50.agg", {}, 25_557_032, (1000,)),
    ("densenet121.agg", {}, 7_978_856, (1000,)),
    ("densenet121.agg", {"growth": 48, "blocks": [6, 12, 36, 24]}, 28_681_000, (1000,)),  # densenet161
    ("densenet121.agg", {"blocks": [6, 12, 32, 32]}, 14_149_480, (1000,)),  # densenet169
    ("densenet121.agg", {"blocks": [6, 12, 48, 32]}, 20_013_928, (1000,)),  # densenet201
    ("se_resnet50.agg", {}, 28_088_024, (1000,)),
    ("mobilenet_v2.agg", {}, 3_504_872, (1000,)),
    ("hardnet.agg", {}, 17_565_348, (1000,)),
    ("vovnet.agg", {}, 24_568_936, (1000,)),
    ("cspresnet50.agg", {}, 21_616_168, (1000,)),
    ("unet.agg", {}, 31_037_698, (2, 256, 256)),
    ("unet_bilinear.agg", {}, 17_263_042, (2, 256, 256)),
    ("dpn68.agg", {}, 12_611_602, (1000,)),
    ("densenet_cifar.agg", {"depth": 40, "growth": 12, "bottleneck": False}, 1_059_298, (10,)),
    ("densenet_cifar.agg", {"depth": 100, "growth": 12, "bottleneck": True}, 769_162, (10,)),
    ("sparsenet_cifar.agg", {"classes": 100}, 1_461_124, (100,)),
    ("preact_resnet.agg", {"depth": 110}, 1_730_714, (10,)),
    ("plain.agg", {}, 267_386, (10,)),
]


@pytest.mark.parametrize(("name", "overrides", "params", "shape"), REFERENCES)
def test_reference_parameter_counts(name: str, overrides: dict, params: int, shape: tuple) -> None:
    spec = load(EXAMPLES / name, **overrides)
    assert parameter_count(spec.graph) == params
    assert spec.output_shape == shape
    assert f"{params:,}" in (EXAMPLES / name).read_text()


# The SparseNet authors' rounded CIFAR-100 figures (their README), in millions.
ROUNDED = [
    ({"depth": 40, "bottleneck": False}, 0.76),
    ({"depth": 100, "bottleneck": False, "growth": 36}, 5.65),
    ({"depth": 100, "bottleneck": False, "growth": [16, 32, 64]}, 7.22),
    ({"depth": 100, "bottleneck": True, "growth": 24}, 1.46),
]


@pytest.mark.parametrize(("overrides", "millions"), ROUNDED)
def test_sparsenet_rounded_figures(overrides: dict, millions: float) -> None:
    spec = load(EXAMPLES / "sparsenet_cifar.agg", classes=100, **overrides)
    assert round(parameter_count(spec.graph) / 1e6, 2) == millions


def test_sparsenet_sum_variant_grows_linearly() -> None:
    counts = [
        parameter_count(load(EXAMPLES / "sparsenet_cifar.agg", merge="sum", bottleneck=False, depth=d).graph)
        for d in (40, 76, 148)  # 12, 24, 48 layers per block
    ]
    # with summation every layer has the same width, so each added layer adds the same parameters
    assert counts[2] - counts[1] == 2 * (counts[1] - counts[0])


def _log_inputs(i: int) -> list[int]:
    return [i - 2**k for k in range(i.bit_length()) if i - 2**k >= 0]


@pytest.mark.parametrize("overrides", [{}, {"depth": 40, "bottleneck": False}], ids=["BC-100", "40"])
def test_log_densenet_connects_each_layer_to_x_i_minus_powers_of_two(overrides: dict) -> None:
    """Read from the IR alone: number the stem output, every layer and every transition
    globally; each reads exactly x_{i-1}, x_{i-2}, x_{i-4}, ... (newest first), larger
    ones through a pooling that brings them to its size."""
    graph = load(EXAMPLES / "log_densenet.agg", **overrides).graph
    blocks = graph.graph["stages"]
    assert len(blocks) == 3

    def entering(node: str) -> list[str]:  # what a value aggregates, seen through resampling
        sources = inputs_of(graph, node) if graph.nodes[node]["kind"] == "merge" else [node]
        seen = []
        for source in sources:
            if graph.nodes[source]["role"] == "resample":
                assert graph.nodes[source]["op"] == "avgpool"
                (source,) = inputs_of(graph, source)
            seen.append(source)
        return seen

    features = [blocks[0].input]  # x_0: the stem's output
    read: list[str] = []  # read[i - 1]: the value x_i is computed from
    for n, block in enumerate(blocks):
        if n:  # the transition: x_i is the next block's input, computed from the block's output
            features.append(block.input)
            read.append(blocks[n - 1].output)
        for l in range(1, block.length + 1):
            first = next(
                node
                for node, data in graph.nodes(data=True)
                if data["stage"] == block.name and data["layer"] == l and data["unit"]
            )
            features.append(block.outputs[block.offset + l])
            read.append(inputs_of(graph, first)[0])
    read.append(blocks[-1].output)  # the head reads at the index after the last layer
    index = {node: i for i, node in enumerate(features)}
    for i, value in enumerate(read, start=1):
        assert [index[node] for node in entering(value)] == _log_inputs(i), f"x_{i}"
    assert len(read) == 3 * blocks[0].length + 3
