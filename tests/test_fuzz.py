"""Fuzzing: hostile and generated specs get a located error or a working model, quickly.

Two sources of input:

* the bundled examples, mutated as a careless editor or a broken generator
  would: spans deleted, tokens inserted, the text cut short or repeated,
  numbers made huge, negative or zero, unicode and NUL bytes, deep nesting;
* programs generated from the grammar's pieces (ops, stages, rules, merges),
  small enough to run.

The invariants, for every input:

* ``aggspec.loads`` returns a spec or raises ``AggSpecError`` with a line and
  column, never another exception (the limits bound its work; loads slower
  than 5 s are counted in the statistics, as tests do not assert on time),
  and its allocations peak below 1 GiB (traced with ``tracemalloc``, which
  sees Python's and numpy's allocations: everything ``loads`` makes);
* whatever elaborates also builds (a spec that ``check`` accepts and
  ``compile`` rejects is a bug) and runs forward on one sample, when it is
  small enough for a test (a mutated ResNet-50 repeated sixteen times is
  elaborated and analysed, not built).

The ``ci`` profile (the default) runs a few hundred cases in each test;
``pytest -m fuzz --hypothesis-profile=long`` runs 50,000 in each.
"""

from __future__ import annotations

import re
import sys
import time
import tracemalloc

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import aggspec
from aggspec import AggSpecError

from .conftest import EXAMPLES

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

TEXTS = {path.name: path.read_text() for path in sorted(EXAMPLES.glob("*.agg"))}
LOAD_SECONDS = 5.0
LOAD_BYTES = 2**30  # the most memory loads may allocate at its peak
RUNNABLE_MACS = 30_000_000  # build and run forward only what a test can afford (batch 1)
RUNNABLE_PARAMS = 5_000_000

TOKENS = [
    *("{", "}", "(", ")", "[", "]", ",", ";", "=", "*", "+", "-", "//", "%", "**", ".", ":", "x"),
    *("stage", "take", "merge", "emit", "def", "if", "else", "for", "in", "network", "param", "let"),
    *("input", "using", "where", "and", "or", "not", "true", "false", "L", "l", "j", "C"),
    *("conv(8, 3)", "relu", "bn", "linear(10)", "gap", "flatten", "maxpool(2)", "dense", "concat"),
    *("sum", "sum(project)", "exponential", "random er(p=0.5)", "offsets(1, 2)", "all", "last"),
    *("0", "-1", "1", "99999999999999999999", "1e308", "-0.0", "3x32x32", "0x0x0", "1x1x1"),
    *("slice(0, 2)", "upsample(2)", "conv_transpose(4, 2, stride=2)", "groupnorm(2)", "layernorm", "relu6"),
    *("mul", ", newest first", ", oldest first", " in ", " not in ", "&", "^", "<<", ">>", "ctz(8)"),
    *("(project, bn=false)", "maxpool(3, stride=2, ceil=true)", "conv(4, 3, dilation=2)", "index([1], 1)"),
    *("across", " pooled", " upsampled", "stage s =", "log_densenet"),
    *("\x00", "é", "\u2028", "\t", "\n", "#", '"', "'", "\\", "\U0001d535", "\ufeff", "\r"),
]


def _mutate(text: str, data: st.DataObject) -> str:
    kind = data.draw(
        st.sampled_from(["delete", "insert", "truncate", "duplicate", "number", "nest", "swap"]),
        label="mutation",
    )
    size = len(text)
    at = data.draw(st.integers(0, size), label="at")
    if kind == "delete":
        return text[:at] + text[at + data.draw(st.integers(1, 40), label="length") :]
    if kind == "insert":
        return text[:at] + data.draw(st.sampled_from(TOKENS), label="token") + text[at:]
    if kind == "truncate":
        return text[:at]
    if kind == "duplicate":
        end = min(size, at + data.draw(st.integers(1, 200), label="length"))
        return text[:end] + text[at:end] * data.draw(st.integers(1, 50), label="times") + text[end:]
    if kind == "number":
        numbers = list(re.finditer(r"\d+", text))
        if not numbers:
            return text
        match = data.draw(st.sampled_from(numbers), label="literal")
        value = data.draw(
            st.sampled_from(
                ["0", "-1", "1", "7", "4096", "99999", "2147483648", "9223372036854775808", "1" * 40]
            )
        )
        return text[: match.start()] + value + text[match.end() :]
    if kind == "nest":
        depth = data.draw(st.sampled_from([10, 100, 999, 1001, 5000]), label="depth")
        opening, closing = data.draw(st.sampled_from([("(", ")"), ("[", "]"), ("{ ", " }")]), label="bracket")
        end = min(size, at + data.draw(st.integers(0, 30), label="length"))
        return text[:at] + opening * depth + text[at:end] + closing * depth + text[end:]
    # swap two random slices
    other = data.draw(st.integers(0, size), label="other")
    low, high = sorted((at, other))
    return text[:low] + text[high:] + text[low:high]


def _check(text: str) -> None:
    """The invariants of the module docstring, for one input."""
    start = time.monotonic()
    tracemalloc.start()
    try:
        spec = aggspec.loads(text, filename="fuzz.agg")
    except AggSpecError as error:
        assert error.line is not None and error.col is not None, f"unlocated: {error.message}"
        return
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < LOAD_BYTES, f"loads allocated {peak:,} bytes at its peak"
        # Counted, not asserted (tests never assert on time): the statistics of a
        # run (--hypothesis-show-statistics) say how many inputs took that long.
        if time.monotonic() - start > LOAD_SECONDS:
            event(f"loads took more than {LOAD_SECONDS:g} s")
    report = aggspec.analyze(spec)
    if report.params > RUNNABLE_PARAMS or report.macs > RUNNABLE_MACS:
        event("elaborated; too large to build in a test")
        return
    model = aggspec.build(spec)  # must not fail: elaboration promised a network that compiles
    with torch.no_grad():
        output = model.eval()(torch.randn(1, *spec.input_shape))
    assert output.shape[1:] == tuple(spec.graph.nodes[spec.graph.graph["output"]]["shape"])
    event("built and ran")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_mutated_examples(name: str, data: st.DataObject) -> None:
    text = TEXTS[name]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        text = _mutate(text, data)
    _check(text)


# ---------------------------------------------------------------- generated programs

OPS = st.sampled_from(
    [
        "relu", "bn", "gelu", "sigmoid", "identity", "dropout(0.1)", "conv(8, 3)", "conv(4, 1)",
        "conv(8, 3, stride=2)", "conv(8, 3, groups=2)", "maxpool(2)", "avgpool(2)", "maxpool(3, 1, 1)",
        "relu6", "hardswish", "hardsigmoid", "layernorm", "groupnorm(2)", "upsample(2)", "slice(0, 2)",
        "conv(4, 3, dilation=2)", "conv_transpose(4, 2, stride=2)", "maxpool(3, stride=2, ceil=true)",
        "join mul { identity | gap conv(C, 1) sigmoid }",
    ]
)  # fmt: skip
TAKES = st.sampled_from(
    [
        "chain", "dense", "exponential", "sparse", "offsets(1, 3)", "random er(p=0.4, seed=1)",
        "random ws(k=2, p=0.2, seed=0)", "where j == 0 or l - j <= 2", "where popcount(l - j) == 1",
        "where (l + j) % 3 == 0", "where j >= l // 2", "dense, newest first", "offsets([1, 2])",
        "where popcount(l - j) == 1 and l % (l - j) == 0, newest first", "where (l - j) & 1 == 1",
        "where j in [0, l - 1]",
    ]
)  # fmt: skip
MERGES = st.sampled_from(
    [
        *("concat", "sum", "sum(project)", "mean(project)", "max(project)", "weighted(project)"),
        *("sum(project, bn=false)", "mul"),
    ]
)
EMITS = st.sampled_from(["last", "all", "sinks", "exponential"])
RESAMPLERS = st.sampled_from(
    ["", " pooled", ' pooled(mode="max")', " upsampled", ' upsampled(mode="bilinear")']
)


@st.composite
def programs(draw: st.DrawFn) -> str:
    channels = draw(st.sampled_from([2, 4]))  # even: grouped convolutions need it
    side = draw(st.sampled_from([4, 8, 9, 16]))
    body = [draw(OPS) for _ in range(draw(st.integers(0, 3)))]
    for index in range(draw(st.integers(0, 3))):
        unit = " ".join(draw(OPS) for _ in range(draw(st.integers(1, 3))))
        layers = draw(st.integers(1, 12))
        clauses = [f"take {draw(TAKES)}", f"merge {draw(MERGES)}"]
        if draw(st.booleans()):
            clauses.append(f"emit {draw(EMITS)}")
        if index and draw(st.booleans()):  # reach across earlier stages, named s0, s1, ...
            reached = draw(st.lists(st.integers(0, index - 1), min_size=1, max_size=index, unique=True))
            clauses.append(f"across {', '.join(f's{i}' for i in reached)}{draw(RESAMPLERS)}")
        body.append(f"stage s{index} = {layers} * {{ {unit} }} {{ {'; '.join(clauses)} }}")
        body.extend(draw(OPS) for _ in range(draw(st.integers(0, 2))))
    if draw(st.booleans()):
        body += ["gap", "flatten", f"linear({draw(st.integers(1, 10))})"]
    return f"network G(input {channels}x{side}x{side}) {{\n    " + "\n    ".join(body) + "\n}\n"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs(text: str) -> None:
    _check(text)


# What the long runs found, each kept as a case of its own.
FOUND = [
    # a group norm over groups of one value elaborated, then PyTorch refused it (2026-11-26)
    "network G(input 2x4x4) {\n    stage 2 * { maxpool(2) } { take chain; merge concat }\n    groupnorm(2)\n}\n",
]


@pytest.mark.parametrize("text", FOUND)
def test_what_fuzzing_found_stays_fixed(text: str) -> None:
    _check(text)


def test_the_generator_reaches_the_back_end() -> None:
    """Generated programs that compile exist (most do), so the fuzzing above is not only of error paths."""
    from hypothesis import find

    def compiles(text: str) -> bool:
        try:
            aggspec.loads(text)
        except AggSpecError:
            return False
        return "stage" in text and "linear" in text

    assert "stage" in find(programs(), compiles, settings=settings(max_examples=500, database=None))


def test_the_memory_bound_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1 GiB check measures what loads allocates: with a bound of 1 KiB it trips."""
    monkeypatch.setattr(sys.modules[__name__], "LOAD_BYTES", 1024)
    with pytest.raises(AssertionError, match="bytes at its peak"):
        _check(TEXTS["resnet18.agg"])
