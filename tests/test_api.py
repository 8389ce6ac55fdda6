"""The Python entry points keep spec params apart from their own options.

A spec may call its params anything, including the names of the options of
``load``, ``loads``, ``build`` and ``analyze``; the ``params`` mapping always
reaches them, and a param value given to an option by mistake fails with a
``TypeError`` that says how to pass it, not with an error deep inside.
"""

from __future__ import annotations

import pytest

import aggspec

from .conftest import EXAMPLES

# One param per option name of every entry point; each sets the width of one conv.
OPTION_NAMES = ("limits", "init_seed", "verify", "passes", "params", "filename", "text", "path", "spec")
SPEC = "\n".join(f"param {name} = {i + 1}" for i, name in enumerate(OPTION_NAMES)) + (
    "\nnetwork T(input 3x8x8) { " + " ".join(f"conv({name}, 1)" for name in OPTION_NAMES) + " }\n"
)
OVERRIDES = {name: 10 + i for i, name in enumerate(OPTION_NAMES)}


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "options.agg"
    path.write_text(SPEC)
    return path


def _widths(spec: aggspec.Spec) -> list[int]:
    return [data["args"]["out"] for _, data in spec.graph.nodes(data=True) if data["op"] == "conv"]


def test_params_named_like_every_option_go_through_the_params_mapping(spec_file) -> None:
    expected = [OVERRIDES[name] for name in OPTION_NAMES]
    assert _widths(aggspec.loads(SPEC, "options.agg", OVERRIDES)) == expected
    assert _widths(aggspec.loads(SPEC, params=OVERRIDES, limits=aggspec.Limits())) == expected
    assert _widths(aggspec.load(spec_file, OVERRIDES)) == expected
    assert _widths(aggspec.load(spec_file, params=OVERRIDES, limits=aggspec.Limits())) == expected
    assert aggspec.load(spec_file, OVERRIDES).params == OVERRIDES
    model = aggspec.build(spec_file, OVERRIDES, init_seed=3, verify=True, limits=aggspec.Limits())
    assert model.get_submodule(f"conv{len(OPTION_NAMES)}").out_channels == OVERRIDES["spec"]
    report = aggspec.analyze(spec_file, OVERRIDES, limits=aggspec.Limits())
    assert report.params == aggspec.analyze(aggspec.load(spec_file, OVERRIDES)).params


def test_keyword_overrides_still_work_beside_options(spec_file) -> None:
    spec = aggspec.load(spec_file, {"limits": 7}, limits=aggspec.Limits(), spec=9)
    assert spec.params["limits"] == 7 and spec.params["spec"] == 9
    assert aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False).params["depth"] == 40
    model = aggspec.build(EXAMPLES / "plain.agg", {}, init_seed=None)
    assert sum(p.numel() for p in model.parameters()) == 267_386


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda f: aggspec.load(f, limits=1), "limits"),
        (lambda f: aggspec.loads(SPEC, limits=1), "limits"),
        (lambda f: aggspec.loads(SPEC, filename=1), "filename"),
        (lambda f: aggspec.build(f, init_seed=1.5), "init_seed"),
        (lambda f: aggspec.build(f, init_seed=True), "init_seed"),
        (lambda f: aggspec.build(f, verify=1), "verify"),
        (lambda f: aggspec.build(f, limits="x"), "limits"),
        (lambda f: aggspec.analyze(f, limits=1), "limits"),
    ],
)
def test_a_param_value_given_to_an_option_says_how_to_pass_it(spec_file, call, option) -> None:
    with pytest.raises(TypeError, match=rf"\({option}=\.\.\.\) takes .*pass params=\{{'{option}': "):
        call(spec_file)


def test_params_must_be_a_mapping_and_may_not_repeat_a_keyword(spec_file) -> None:
    with pytest.raises(TypeError, match="passes must be a list of passes or pass names, got int"):
        aggspec.build(spec_file, passes=1)  # a spec param named passes goes in params={...}
    with pytest.raises(TypeError, match=r"params=\.\.\.\) takes a mapping .*params=\{'params': \.\.\.\}"):
        aggspec.load(spec_file, params=4)
    with pytest.raises(TypeError, match="got param 'spec' both in params= and as a keyword argument"):
        aggspec.load(spec_file, {"spec": 1}, spec=2)
    with pytest.raises(TypeError, match="param names are strings"):
        aggspec.load(spec_file, {1: 2})


def test_an_unknown_param_in_the_mapping_is_a_located_user_error(spec_file) -> None:
    with pytest.raises(aggspec.AggSpecError, match="limitz"):
        aggspec.load(spec_file, {"limitz": 1})
