"""The grammar and the syntax tree the parser builds."""

from __future__ import annotations

import pytest
from lark import Lark

from aggspec import AggSpecError, parse
from aggspec.lang import syntax as s
from aggspec.lang.parser import SeparatorPostLexer, grammar_text

from ..conftest import EXAMPLES


@pytest.mark.slow
def test_grammar_is_conflict_free_lalr() -> None:
    # strict mode turns shift/reduce conflicts and terminal collisions into errors
    Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        postlex=SeparatorPostLexer(),
        strict=True,
        start=["start", "override"],
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.agg")), ids=lambda p: p.name)
def test_every_example_parses(path) -> None:
    module = parse(path.read_text(), str(path))
    assert sum(isinstance(d, s.Network) for d in module.declarations) == 1


def network_steps(text: str) -> tuple[s.Step, ...]:
    (network,) = [d for d in parse(text).declarations if isinstance(d, s.Network)]
    return network.body.steps


def test_sequence_of_calls_with_arguments_and_spans() -> None:
    steps = network_steps("network N(input 3x8x8) {\n  conv(16, 3, stride=2) bn relu\n}")
    conv, bn, relu = steps
    assert isinstance(conv, s.Call) and conv.name.id == "conv"
    assert [a.value for a in conv.args] == [16, 3]  # type: ignore[union-attr]
    assert [(k.name, k.value.value) for k in conv.kwargs] == [("stride", 2)]  # type: ignore[union-attr]
    assert conv.span == s.Span(2, 3, 2, 24)
    assert (bn.name.id, relu.name.id) == ("bn", "relu")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        "conv(4, 3); relu",
        "conv(4, 3)\nrelu",
        "conv(4, 3)\n\n  # a comment\n\nrelu",
        "conv(4, 3) # trailing comment\nrelu;",
        "conv(4,\n     3)\nrelu",
        "conv(4, 3) relu",
    ],
)
def test_statement_separators(body: str) -> None:
    steps = network_steps("network N(input 3x8x8) {\n" + body + "\n}")
    assert [step.name.id for step in steps] == ["conv", "relu"]  # type: ignore[union-attr]


def test_else_may_start_a_new_line() -> None:
    text = "network N(input 3x8x8) {\n if true { relu }\n # why\n else if false { bn }\n else { gelu }\n}"
    (step,) = network_steps(text)
    assert isinstance(step, s.If)
    assert len(step.branches) == 2 and step.orelse is not None


def test_stage_clauses() -> None:
    text = """network N(input 3x8x8) {
        stage 2 * unit(4) {
            take random ws(4, 0.75, seed=1)
            merge sum(project) then relu
            emit sinks using mean
        }
    }"""
    (stage,) = network_steps(text)
    assert isinstance(stage, s.Stage)
    assert isinstance(stage.unit, s.Call) and stage.unit.name.id == "unit"
    assert stage.take is not None and isinstance(stage.take.rule, s.NamedRule)
    assert stage.take.rule.name == "random ws"
    assert stage.merge is not None and stage.merge.merge_kind.project
    assert [c.name.id for c in stage.merge.post.steps] == ["relu"]  # type: ignore[union-attr]
    assert stage.emit is not None and stage.emit.using is not None
    assert stage.emit.using.name.id == "mean"


def test_where_rule_and_braced_unit() -> None:
    (stage,) = network_steps("network N(input 3x8x8) { stage 3 * { relu } { take where j % 2 == 0 } }")
    assert isinstance(stage, s.Stage) and isinstance(stage.unit, s.Block)
    assert stage.take is not None and isinstance(stage.take.rule, s.WhereRule)


def test_join_residual_and_graph() -> None:
    text = """network N(input 3x8x8) {
        join concat { conv(4, 1) | conv(4, 3)
                    | maxpool(3, stride=1, padding=1) }
        residual(project) { conv(8, 3) }
        graph(x) {
            a = x -> conv(8, 3) relu
            b = sum(project)(a, x)
            return b
        }
    }"""
    join, residual, graph = network_steps(text)
    assert isinstance(join, s.Join) and len(join.branches) == 3
    assert isinstance(residual, s.Residual) and residual.project
    assert isinstance(graph, s.Graph) and graph.input_name.id == "x"
    a, b, ret = graph.body
    assert isinstance(a, s.Binding) and isinstance(a.source, s.Name) and len(a.steps.steps) == 2
    assert isinstance(b, s.Binding) and isinstance(b.source, s.MergeSource)
    assert b.source.merge_kind.project and [n.id for n in b.source.inputs] == ["a", "x"]
    assert isinstance(ret, s.Return)


def test_expression_precedence() -> None:
    (let,) = parse("let x = 1 + 2 * 3 ** 2 if not a or b and c else -d[0] // 2").declarations
    assert isinstance(let, s.Let)
    cond = let.value
    assert isinstance(cond, s.Conditional)
    assert isinstance(cond.body, s.BinaryOp) and cond.body.op == "+"
    assert isinstance(cond.test, s.BinaryOp) and cond.test.op == "or"
    assert isinstance(cond.orelse, s.BinaryOp) and cond.orelse.op == "//"


def test_clause_words_are_soft_keywords() -> None:
    # `merge` names a parameter and is then used as the merge of a stage
    module = parse('param merge = "sum"\nnetwork N(input 3x8x8) { stage 2 * relu { merge merge } }')
    assert isinstance(module.declarations[0], s.Param)


def test_shape_forms() -> None:
    (network,) = parse("network N(input [3, 2 * 16, 32]) { relu }").declarations
    assert isinstance(network, s.Network) and len(network.input_shape) == 3


def test_reserved_word_cannot_be_bound() -> None:
    with pytest.raises(AggSpecError, match="reserved word"):
        parse("let if = 3")


def test_comment_in_column_one_before_else() -> None:
    text = (
        "network N(input 3x8x8) {\n    if false { relu }\n# otherwise\n" + "#" * 60 + "\n    else { gelu }\n}"
    )
    (step,) = network_steps(text)
    assert isinstance(step, s.If) and step.orelse is not None


def test_lines_are_counted_as_lark_counts_them() -> None:
    # \f and \u2028 do not end a line for lark; the error must show the right line
    text = "# a\fcomment \u2028 here\nnetwork N(input 3x8x8) {\n  rleu\n}"
    with pytest.raises(AggSpecError) as info:
        __import__("aggspec").loads(text)
    assert info.value.line == 3 and info.value.render().splitlines()[1] == "  rleu"


def test_string_escapes() -> None:
    (let,) = parse('let s = "a\\"b\\\\c\\nd\\te"').declarations
    assert isinstance(let, s.Let) and isinstance(let.value, s.Literal)
    assert let.value.value == 'a"b\\c\nd\te'
