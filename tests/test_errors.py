"""Every user mistake gets one located diagnostic: file:line:col, the line, a caret.

Each case's full rendered message is a golden file under tests/golden/errors/;
`pytest --update-golden` rewrites them (review the diff).
"""

from __future__ import annotations

import pytest

from aggspec import AggSpecError, Limits
from aggspec.api import build_spec
from aggspec.lang.params import parse_define

NET = "network N(input 4x8x8) {{\n    {body}\n}}\n"

# (case id, .agg source, -D overrides)
CASES: list[tuple[str, str, list[str]]] = [
    # syntax
    ("syntax_unexpected_token", NET.format(body="conv(4, 3 }"), []),
    ("syntax_unexpected_character", NET.format(body="conv(4, 3) @ relu"), []),
    ("syntax_unclosed_brace", "network N(input 4x8x8) {\n    conv(4, 3)\n", []),
    ("syntax_unexpected_end_of_file", "let x = 3 +", []),
    ("syntax_missing_input_shape", "network N(3x32x32) { relu }\n", []),
    ("syntax_positional_after_keyword", NET.format(body="conv(out=4, 3)"), []),
    ("syntax_duplicate_clause", NET.format(body="stage 2 * relu { take chain; take dense }"), []),
    ("syntax_reserved_word", "let if = 3\n", []),
    # names and calls
    ("unknown_op_with_suggestion", NET.format(body="conv(4, 3) rleu"), []),
    ("unknown_op", NET.format(body="conv3d(4, 3)"), []),
    ("merge_used_as_op", NET.format(body="conv(4, 3) sum"), []),
    ("unknown_name", NET.format(body="conv(width, 3)"), []),
    ("unknown_function", "let x = sqrt(4)\n" + NET.format(body="relu"), []),
    ("op_too_many_arguments", NET.format(body="conv(4, 3, 1, 1, false, 1, 1, 7)"), []),
    ("op_missing_argument", NET.format(body="conv(4)"), []),
    ("op_argument_type", NET.format(body="conv(C / 2, 3)"), []),
    ("op_unknown_keyword", NET.format(body="conv(4, 3, pad=1)"), []),
    ("def_too_many_arguments", "def unit(g) { conv(g, 3) }\n" + NET.format(body="unit(4, 2)"), []),
    ("def_missing_argument", "def unit(g) { conv(g, 3) }\n" + NET.format(body="unit"), []),
    ("def_duplicate", "def a { relu }\ndef a { bn }\n" + NET.format(body="a"), []),
    ("def_shadows_builtin_op", "def conv { relu }\n" + NET.format(body="conv"), []),
    ("name_defined_twice", "param depth = 3\nlet depth = 4\n" + NET.format(body="relu"), []),
    # values and shapes
    ("non_positive_channels", NET.format(body="conv(0, 3)"), []),
    ("stride_leaves_no_size", NET.format(body="conv(4, 3, stride=2) maxpool(8)"), []),
    ("linear_needs_features", NET.format(body="linear(10)"), []),
    ("conv_needs_feature_map", NET.format(body="gap flatten conv(4, 3)"), []),
    ("groups_must_divide", NET.format(body="conv(6, 3, groups=4)"), []),
    ("input_shape_not_positive", "network N(input [3, 0, 8]) { relu }\n", []),
    ("division_by_zero", "let x = 16 // (2 - 2)\n" + NET.format(body="relu"), []),
    ("condition_not_bool", NET.format(body="if 1 { relu }"), []),
    ("for_over_non_list", NET.format(body="for i in 3 { relu }"), []),
    ("for_unpack_mismatch", NET.format(body="for (a, b) in [1, 2] { relu }"), []),
    ("integer_too_large", "let big = 10 ** 40\n" + NET.format(body="relu"), []),
    # the zoo's ops and rules
    ("upsample_size_mismatch", NET.format(body="join concat { identity | maxpool(2) upsample(3) }"), []),
    ("gate_channels_differ", NET.format(body="join mul { identity | gap conv(2, 1) sigmoid }"), []),
    ("slice_past_channels", NET.format(body="slice(2, 6)"), []),
    ("groupnorm_of_single_values", NET.format(body="gap groupnorm(4)"), []),
    ("upsample_unknown_mode", NET.format(body='upsample(2, mode="cubic")'), []),
    (
        "conv_transpose_output_padding",
        NET.format(body="conv_transpose(4, 3, stride=2, output_padding=2)"),
        [],
    ),
    ("ctz_of_zero", "let x = ctz(0)\n" + NET.format(body="relu"), []),
    ("in_needs_a_list", "let x = 3 in 4\n" + NET.format(body="relu"), []),
    ("negative_shift", "let x = 1 << -1\n" + NET.format(body="relu"), []),
    ("order_words", NET.format(body="stage 3 * relu { take dense, latest first }"), []),
    ("project_option", NET.format(body="residual(project, norm=false) { conv(8, 3) }"), []),
    (
        "offsets_list_of_non_ints",
        "param gaps = [1, 2.5]\n" + NET.format(body="stage 3 * relu { take offsets(gaps) }"),
        [],
    ),
    # merges
    ("stage_sum_shapes_differ", NET.format(body="stage 3 * conv(8, 3) { take dense; merge sum }"), []),
    ("residual_shape_changes", NET.format(body="residual { conv(8, 3) }"), []),
    ("join_shapes_differ", NET.format(body="join sum { conv(4, 1) | conv(8, 1) }"), []),
    ("concat_sizes_differ", NET.format(body="join concat { conv(4, 1) | maxpool(2) }"), []),
    ("project_on_concat", NET.format(body="stage 2 * relu { take dense; merge concat(project) }"), []),
    ("unknown_merge", NET.format(body="stage 2 * relu { take dense; merge cat }"), []),
    ("project_impossible_stride", NET.format(body="join sum(project) { identity | maxpool(2) }"), []),
    # stages and rules
    ("stage_zero_layers", NET.format(body="stage 0 * relu { take chain }"), []),
    ("unknown_take_rule", NET.format(body="stage 4 * relu { take exponentail }"), []),
    ("exponential_base_too_small", NET.format(body="stage 4 * relu { take exponential(base=1) }"), []),
    ("random_rule_missing_seed", NET.format(body="stage 4 * relu { take random er(0.5) }"), []),
    ("random_rule_as_emit", NET.format(body="stage 4 * relu { take dense; emit random er(0.5, 1) }"), []),
    ("where_condition_not_bool", NET.format(body="stage 4 * relu { take where j + 1 }"), []),
    ("where_takes_nothing", NET.format(body="stage 4 * relu { take where j > l }"), []),
    (
        "error_inside_unit_has_notes",
        "def unit(g) { bn relu conv(g - l, 3) }\n" + NET.format(body="stage 4 * unit(2) { take dense }"),
        [],
    ),
    ("bad_string_escape", 'let s = "a\\x4"\n' + NET.format(body="relu"), []),
    ("integer_literal_too_large", "let n = " + "9" * 30 + "\n" + NET.format(body="relu"), []),
    ("float_literal_too_large", "let f = 1e400\n" + NET.format(body="relu"), []),
    ("complex_result", "let r = (-8) ** 0.5\n" + NET.format(body="relu"), []),
    ("context_name_bound", "let C = 64\n" + NET.format(body="conv(C, 3)"), []),
    ("deep_nesting", NET.format(body="if true { " * 20000 + "relu" + " }" * 20000), []),
    ("long_expression", "let x = " + "1 + " * 20000 + "1\n" + NET.format(body="relu"), []),
    (
        "endless_loop",
        NET.format(body="for i in range(1000000) { for k in range(1000000) { let a = 1 } }"),
        [],
    ),
    ("random_graph_too_large", NET.format(body="stage 6000 * identity { take random er(1.0, seed=1) }"), []),
    ("where_examines_too_many_pairs", NET.format(body="stage 5000 * identity { take where j == l - 1 }"), []),
    # stages reaching across others
    ("across_unknown_stage", NET.format(body="stage a = 2 * relu\n    stage 2 * relu { across b }"), []),
    (
        "across_suggests_a_name",
        NET.format(body="stage blocks = 2 * relu\n    stage 2 * relu { across block }"),
        [],
    ),
    (
        "across_later_stage",
        NET.format(body="stage 2 * relu { across b }\n    stage b = 2 * relu"),
        [],
    ),
    (
        "across_a_definition",
        "def b { relu }\n" + NET.format(body="stage 2 * relu { across b }"),
        [],
    ),
    ("across_a_value", "let b = 3\n" + NET.format(body="stage 2 * relu { across b }"), []),
    ("across_listed_twice", NET.format(body="stage a = 2 * relu\n    stage 2 * relu { across a, a }"), []),
    (
        "across_sizes_without_resampler",
        NET.format(body="stage a = 2 * relu\n    maxpool(2)\n    stage 2 * relu { across a; take dense }"),
        [],
    ),
    (
        "across_pool_not_whole",
        NET.format(
            body="stage a = 2 * relu\n    conv(4, 3, padding=0)\n    stage 2 * relu { across a pooled; take dense }"
        ),
        [],
    ),
    (
        "across_upsample_not_whole",
        NET.format(
            body="stage a = 2 * relu\n    conv(4, 3, stride=3)\n    stage 2 * relu { across a upsampled; take dense }"
        ),
        [],
    ),
    (
        "across_unknown_resampler",
        NET.format(body="stage a = 2 * relu\n    stage 2 * relu { across a resized }"),
        [],
    ),
    (
        "across_resampler_mode",
        NET.format(body='stage a = 2 * relu\n    stage 2 * relu { across a pooled(mode="median") }'),
        [],
    ),
    ("stage_name_reserved", NET.format(body="stage L = 2 * relu"), []),
    (
        "across_random_rule",
        NET.format(body="stage a = 2 * relu\n    stage 3 * relu { across a; take random er(0.5, seed=1) }"),
        [],
    ),
    # recursion and size limits
    ("recursion_limit", "def deeper(n) { relu deeper(n + 1) }\n" + NET.format(body="deeper(0)"), []),
    ("layer_limit", NET.format(body="stage 200000 * relu"), []),
    ("connection_limit", NET.format(body="stage 5000 * relu { take dense; merge sum }"), []),
    # explicit graph form
    ("graph_unknown_value", NET.format(body="graph(x) { a = y -> relu }"), []),
    (
        "graph_unused_value",
        NET.format(body="graph(x) {\n        a = x -> relu\n        b = x -> bn\n    }"),
        [],
    ),
    ("graph_rebinding", NET.format(body="graph(x) {\n        a = x -> relu\n        a = a -> bn\n    }"), []),
    # files and parameters
    ("no_network", "param depth = 3\n", []),
    ("two_networks", NET.format(body="relu") + "network M(input 4x8x8) { bn }\n", []),
    ("param_unknown_type", "param depth: integer = 3\n" + NET.format(body="relu"), []),
    ("param_default_of_wrong_type", "param depth: int = 2.5\n" + NET.format(body="relu"), []),
    ("override_wrong_type", "param depth = 3\n" + NET.format(body="relu"), ["depth=2.5"]),
    ("override_not_literal", "param depth = 3\n" + NET.format(body="relu"), ["depth=1+2"]),
    ("override_unknown_parameter", "param depth = 3\n" + NET.format(body="relu"), ["dpeth=40"]),
    ("override_syntax", "param depth = 3\n" + NET.format(body="relu"), ["depth=[1,"]),
]


def render(source: str, defines: list[str]) -> str:
    limits = Limits(max_layers=100_000, max_connections=10_000_000, max_recursion=16, max_steps=100_000)
    with pytest.raises(AggSpecError) as info:
        build_spec(source, "model.agg", [parse_define(d) for d in defines], limits)
    return info.value.render() + "\n"


def test_case_ids_are_unique_and_plentiful() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25
    assert set(ids) >= SLOW_CASES  # a renamed slow case would otherwise run in the fast tier unnoticed


# Cases that run into a limit on purpose, and take a second or more to get there.
SLOW_CASES = frozenset({"deep_nesting", "long_expression", "endless_loop", "connection_limit"})


@pytest.mark.parametrize(
    ("case", "source", "defines"),
    [pytest.param(*c, id=c[0], marks=(pytest.mark.slow,) if c[0] in SLOW_CASES else ()) for c in CASES],
)
def test_error_message(case: str, source: str, defines: list[str], golden) -> None:
    rendered = render(source, defines)
    first = rendered.splitlines()[0]
    assert ": error: " in first
    golden(f"errors/{case}.txt", rendered)


def test_located_errors_carry_file_line_and_column() -> None:
    with pytest.raises(AggSpecError) as info:
        build_spec(NET.format(body="conv(4, 3) rleu"), "model.agg")
    error = info.value
    assert (error.filename, error.line, error.col) == ("model.agg", 2, 16)
    assert error.render().splitlines()[1:] == ["    conv(4, 3) rleu", "               ^~~~"]
