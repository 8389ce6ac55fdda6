"""Text to syntax tree: the lark grammar, a separator post-lexer, a thin transformer.

The grammar (``grammars/agg.lark``) is package data and the single source of
truth for the syntax. The LALR parser is built once, on first use. Lark's own
exceptions never leave this module: they become ``AggSpecError`` with the
file, line and column of the offending text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from aggspec.errors import AggSpecError, deep_recursion
from aggspec.lang import syntax as s
from aggspec.lang.expressions import MAX_INT
from aggspec.lang.grammar import grammar_text
from aggspec.span import Span

__all__ = ["CONTEXT_NAMES", "RESERVED_WORDS", "parse", "parse_override"]

# Words that cannot name a parameter, value, definition or loop variable. Lark's
# contextual lexer would accept them as names wherever the keyword itself
# cannot appear, which would make `let if = 1` legal; we refuse that. The
# clause words (take, merge, emit, where, using, input) stay usable as names:
# they are keywords only where a clause or the input shape is expected, so
# `param merge = "concat"` ... `merge merge` reads naturally.
RESERVED_WORDS = frozenset(
    [
        "param",
        "let",
        "def",
        "network",
        "stage",
        "join",
        "residual",
        "graph",
        "return",
        "for",
        "in",
        "if",
        "else",
        "and",
        "or",
        "not",
        "true",
        "false",
        "then",
        "project",
    ]
)


# Names the elaborator binds itself. A user binding of the same name would be
# silently shadowed inside units (or would shadow them), so it is refused.
CONTEXT_NAMES = {
    "C": "the channels of a unit's input",
    "H": "the height of a unit's input",
    "W": "the width of a unit's input",
    "l": "the layer index inside a stage",
    "L": "the number of layers of a stage",
    "j": "the source index in a where rule",
}

_MAX_INT_DIGITS = 19  # literals stay within 64-bit ints, like every other value
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


class SeparatorPostLexer:
    """Turns the raw newline/';' stream into the separators the grammar expects.

    A separator is dropped inside brackets, when it repeats, at the start of
    the file, and after a token that cannot end a statement (so a long
    expression may break after an operator). It never looks ahead: lark's
    contextual lexer picks terminals by the parser's current state, so reading
    past a token the parser has not consumed would lex in the wrong state.
    """

    always_accept = ("_NL", "SEMICOLON")

    _OPEN = frozenset({"(", "["})
    _CLOSE = frozenset({")", "]"})
    _CONTINUES = frozenset(
        [
            "{",
            "|",
            "->",
            "then",
            "*",
            "=",
            ",",
            "+",
            "-",
            "/",
            "//",
            "%",
            "**",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "&",
            "^",
            "<<",
            ">>",
            "and",
            "or",
            "not",
            "else",
            "in",
            ":",
        ]
    )

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        previous: Token | None = None
        for token in stream:
            if token.type in ("_NL", "SEMICOLON"):
                if depth > 0:
                    if token.type == "SEMICOLON":
                        yield token  # a ';' inside brackets is a syntax error
                    continue
                if previous is None or previous.type == "_NL" or self._continues(previous):
                    continue
                token = Token.new_borrow_pos("_NL", token.value, token)
            elif token.type not in ("NAME", "STRING"):
                if token.value in self._OPEN:
                    depth += 1
                elif token.value in self._CLOSE and depth > 0:
                    depth -= 1
            yield token
            previous = token

    def _continues(self, token: Token) -> bool:
        return token.type not in ("NAME", "STRING", "INT", "FLOAT") and token.value in self._CONTINUES


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        postlex=SeparatorPostLexer(),
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "override"],
    )


# How deep a parse tree may nest (``Limits.max_nesting``): every bracket, block,
# unary operator and chained binary operator is a level. Deeper input fails at
# the place it passes the limit, before the recursive passes over the tree.
MAX_NESTING = 1000


def parse(text: str, filename: str = "<string>", *, max_nesting: int = MAX_NESTING) -> s.Module:
    """Parse ``.agg`` source into a ``syntax.Module``.

    Raises ``AggSpecError`` (with filename, line and column) on any syntax error.
    """
    declarations = _parse(text, filename, "start", max_nesting)
    return s.Module(declarations=tuple(declarations), filename=filename, source=text)


def parse_override(
    text: str, filename: str = "<command line>", *, max_nesting: int = MAX_NESTING
) -> tuple[s.Name, s.Expr]:
    """Parse ``name=value`` (a ``-D`` argument) into the name and the value's expression."""
    name, expr = _parse(text, filename, "override", max_nesting)
    return name, expr


def _parse(text: str, filename: str, start: str, max_nesting: int) -> Any:
    what = "the file" if start == "start" else "the value"
    try:
        with deep_recursion(what):
            try:
                tree = _lark().parse(text, start=start)  # LALR: a loop, however deep the input
                _check_depth(tree, max_nesting, what)
                return _ToSyntax().transform(tree)
            except VisitError as exc:  # the transformer wraps what its methods raise
                if isinstance(exc.orig_exc, (AggSpecError, RecursionError)):
                    raise exc.orig_exc from None
                raise
    except UnexpectedInput as exc:
        raise _translate(exc, text).located(filename, text) from None
    except AggSpecError as exc:
        raise exc.located(filename, text) from None


def _check_depth(tree: Tree[Token], limit: int, what: str) -> None:
    """Refuse a tree deeper than ``limit``, at the first place it gets that deep (without recursion)."""
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if depth > limit:
            raise AggSpecError(
                f"{what} nests more than {limit:,} levels deep here (brackets, blocks and chained "
                "operators each add one; raise the limit with --max-nesting)",
                _first_span(node),
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def _first_span(node: Tree[Token]) -> Span | None:
    meta = node.meta
    if not getattr(meta, "empty", True):
        return Span(meta.line, meta.column, meta.line, meta.column + 1)
    for token in node.scan_values(lambda value: isinstance(value, Token)):
        if token.line is not None and token.column is not None:
            return Span(token.line, token.column, token.line, token.column + 1)
    return None


# ---------------------------------------------------------------- error translation

_TOKEN_DESCRIPTIONS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "SHAPE": "a shape like 3x32x32",
    "_NL": "end of line",
    "SEMICOLON": "';'",
    "$END": "end of file",
}


def _describe(token_type: str) -> str:
    if token_type in _TOKEN_DESCRIPTIONS:
        return _TOKEN_DESCRIPTIONS[token_type]
    terminal = next((t for t in _lark().terminals if t.name == token_type), None)
    if terminal is not None and isinstance(terminal.pattern, PatternStr):
        return f"'{terminal.pattern.value}'"
    return token_type.lower()


def _describe_token(token: Token) -> str:
    if token.type in ("_NL", "$END"):
        return _TOKEN_DESCRIPTIONS[token.type]
    return f"'{token.value}'"


def _expected(names: set[str]) -> str:
    terminals = {t.name for t in _lark().terminals} | {"$END"}
    described = sorted({_describe(n) for n in names if n in terminals and n != "SEMICOLON"})
    if not described:
        return ""
    if len(described) > 8:
        return ""
    if len(described) == 1:
        return f"; expected {described[0]}"
    return "; expected one of " + ", ".join(described)


def _end_span(text: str) -> s.Span:
    lines = text.split("\n")
    last = len(lines)
    col = len(lines[-1]) + 1
    return s.Span(last, col, last, col + 1)


def _accepted_in_state(exc: UnexpectedToken) -> set[str]:
    """The terminals the parser could take where it failed.

    Lark's own ``expected`` also lists the post-lexer's always-accepted
    terminals, which would make every message offer "end of line".
    """
    parser = getattr(exc, "interactive_parser", None)  # absent when lark raised it from the lexer
    if parser is None:
        return set(exc.expected)
    state = parser.parser_state
    return set(state.parse_conf.parse_table.states[state.position])


def _unclosed(text: str) -> AggSpecError | None:
    """An error at the innermost '{' that is never closed, if there is one."""
    stack: list[tuple[int, int]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        in_string = False
        for col, char in enumerate(line, start=1):
            if char == '"':
                in_string = not in_string
            elif in_string:
                continue
            elif char == "#":
                break
            elif char == "{":
                stack.append((number, col))
            elif char == "}" and stack:
                stack.pop()
    if not stack:
        return None
    open_line, open_col = stack[-1]
    return AggSpecError("this '{' is never closed", s.Span(open_line, open_col, open_line, open_col + 1))


def _translate(exc: UnexpectedInput, text: str) -> AggSpecError:
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        span = s.Span(exc.line, exc.column, exc.line, exc.column + 1)
        return AggSpecError(f"unexpected character {char!r}", span)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END" or token.line is None:
            span = _end_span(text)
        else:
            end_line = token.end_line or token.line
            end_col = token.end_column or (token.column + 1)
            if token.type == "_NL":  # point at the line break, not the comment after it
                end_line, end_col = token.line, token.column + 1
            span = s.Span(token.line, token.column, end_line, end_col)
        expected = _accepted_in_state(exc)
        if token.type == "$END" and "RBRACE" in expected:
            return _unclosed(text) or AggSpecError("unexpected end of file", span)
        message = f"unexpected {_describe_token(token)}{_expected(expected)}"
        return AggSpecError(message, span)
    if isinstance(exc, UnexpectedEOF):
        return AggSpecError(f"unexpected end of file{_expected(set(exc.expected))}", _end_span(text))
    raise exc  # pragma: no cover - lark has no other UnexpectedInput kinds


# ---------------------------------------------------------------- tree to dataclasses


def _span(meta: Any) -> s.Span:
    return s.Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(token: Token) -> s.Span:
    assert token.line is not None and token.column is not None
    return s.Span(token.line, token.column, token.end_line or token.line, token.end_column or token.column)


def _name(token: Token, *, binding: bool = False) -> s.Name:
    if binding and str(token) in RESERVED_WORDS:
        raise AggSpecError(f"'{token}' is a reserved word and cannot be used as a name", _token_span(token))
    if binding and str(token) in CONTEXT_NAMES:
        raise AggSpecError(
            f"'{token}' is bound by aggspec ({CONTEXT_NAMES[str(token)]}); choose another name",
            _token_span(token),
        )
    return s.Name(str(token), _token_span(token))


def _present(children: list[Any]) -> list[Any]:
    return [c for c in children if c is not None]


def _block(meta: Any, lines: list[Any]) -> s.Block:
    steps: list[s.Step] = []
    for line in _present(lines):
        if isinstance(line, list):
            steps.extend(line)
        else:
            steps.append(line)
    return s.Block(tuple(steps), _span(meta))


def _call_arguments(
    children: list[Any],
) -> tuple[tuple[s.Expr, ...], tuple[s.Keyword, ...]]:
    args: list[s.Expr] = []
    kwargs: list[s.Keyword] = []
    for child in _present(children):
        if isinstance(child, s.Keyword):
            if any(k.name == child.name for k in kwargs):
                raise AggSpecError(f"argument '{child.name}' given twice", child.span)
            kwargs.append(child)
        elif kwargs:
            raise AggSpecError("positional argument after keyword argument", child.span)
        else:
            args.append(child)
    return tuple(args), tuple(kwargs)


def _binary(op: str) -> Any:
    def build(self: _ToSyntax, meta: Any, children: list[Any]) -> s.BinaryOp:
        left, right = children
        return s.BinaryOp(op, left, right, _span(meta))

    return build


@v_args(meta=True)
class _ToSyntax(Transformer[Token, list[s.Declaration]]):
    """One method per grammar rule; each returns the matching ``syntax`` node."""

    def start(self, meta: Any, children: list[Any]) -> list[s.Declaration]:
        return _present(children)

    def override(self, meta: Any, children: list[Any]) -> tuple[s.Name, s.Expr]:
        name, value = children
        return _name(name), value

    # declarations
    def param(self, meta: Any, children: list[Any]) -> s.Param:
        name, types, default = children
        return s.Param(_name(name, binding=True), tuple(types or ()), default, _span(meta))

    def type_union(self, meta: Any, children: list[Token]) -> list[s.Name]:
        return [_name(t) for t in children]

    def let(self, meta: Any, children: list[Any]) -> s.Let:
        name, value = children
        return s.Let(_name(name, binding=True), value, _span(meta))

    def def_(self, meta: Any, children: list[Any]) -> s.Def:
        name, *formals, body = children
        present = tuple(f for f in formals if isinstance(f, s.Formal))
        seen: set[str] = set()
        for formal in present:
            if formal.name.id in seen:
                raise AggSpecError(f"parameter '{formal.name.id}' declared twice", formal.name.span)
            seen.add(formal.name.id)
        return s.Def(_name(name, binding=True), present, body, _span(meta))

    def formal(self, meta: Any, children: list[Any]) -> s.Formal:
        name, default = children
        return s.Formal(_name(name, binding=True), default)

    def network(self, meta: Any, children: list[Any]) -> s.Network:
        name, shape, body = children
        return s.Network(_name(name, binding=True), tuple(shape), body, _span(meta))

    def shape_literal(self, meta: Any, children: list[Token]) -> list[s.Expr]:
        (token,) = children
        exprs: list[s.Expr] = []
        col = token.column
        assert col is not None and token.line is not None
        for part in str(token).split("x"):
            exprs.append(s.Literal(int(part), s.Span(token.line, col, token.line, col + len(part))))
            col += len(part) + 1
        return exprs

    def shape_list(self, meta: Any, children: list[Any]) -> list[s.Expr]:
        return _present(children)

    # blocks and steps
    def block(self, meta: Any, children: list[Any]) -> s.Block:
        return _block(meta, children)

    def branch(self, meta: Any, children: list[Any]) -> s.Block:
        return _block(meta, children)

    def steps(self, meta: Any, children: list[Any]) -> list[s.Step]:
        return list(children)

    def call(self, meta: Any, children: list[Any]) -> s.Call:
        name, arguments = children
        args, kwargs = arguments if arguments is not None else ((), ())
        return s.Call(_name(name), args, kwargs, _span(meta), has_parens=arguments is not None)

    def call_args(self, meta: Any, children: list[Any]) -> tuple[tuple[s.Expr, ...], tuple[s.Keyword, ...]]:
        return _call_arguments(children)

    def kwarg(self, meta: Any, children: list[Any]) -> s.Keyword:
        name, value = children
        return s.Keyword(str(name), value, _span(meta))

    def for_(self, meta: Any, children: list[Any]) -> s.For:
        (targets, destructure), iterable, body = children
        return s.For(targets, destructure, iterable, body, _span(meta))

    def for_target(self, meta: Any, children: list[Token]) -> tuple[tuple[s.Name, ...], bool]:
        return (_name(children[0], binding=True),), False

    def for_targets(self, meta: Any, children: list[Any]) -> tuple[tuple[s.Name, ...], bool]:
        return tuple(_name(t, binding=True) for t in _present(children)), True

    def if_(self, meta: Any, children: list[Any]) -> s.If:
        test, body, *elifs, orelse = children
        return s.If(((test, body), *elifs), orelse, _span(meta))

    def elif_(self, meta: Any, children: list[Any]) -> tuple[s.Expr, s.Block]:
        test, body = children
        return test, body

    def join(self, meta: Any, children: list[Any]) -> s.Join:
        merge_kind, *branches = children
        return s.Join(merge_kind, tuple(branches), _span(meta))

    def residual(self, meta: Any, children: list[Any]) -> s.Residual:
        project, body = children
        return s.Residual(project is not None, body, _span(meta), project is not False)

    def project(self, meta: Any, children: list[Any]) -> bool:
        """Whether the projection has its BN: ``(project)`` yes, ``(project, bn=false)`` no."""
        (option,) = children
        if option is None:
            return True
        if (
            option.name != "bn"
            or not isinstance(option.value, s.Literal)
            or not isinstance(option.value.value, bool)
        ):
            raise AggSpecError("a projection takes one option, bn=true or bn=false", option.span)
        return bool(option.value.value)

    def merge_kind(self, meta: Any, children: list[Any]) -> s.MergeKind:
        name, project = children
        return s.MergeKind(_name(name), project is not None, _span(meta), project is not False)

    # stages
    def stage(self, meta: Any, children: list[Any]) -> s.Stage:
        name, count, unit, clauses = children
        clauses = clauses or []
        found: dict[type, Any] = {}
        for clause in _present(clauses):
            if type(clause) in found:
                keyword = {
                    s.TakeClause: "take",
                    s.MergeClause: "merge",
                    s.EmitClause: "emit",
                    s.AcrossClause: "across",
                }[type(clause)]
                raise AggSpecError(f"stage has more than one '{keyword}' clause", clause.span)
            found[type(clause)] = clause
        return s.Stage(
            count,
            unit,
            found.get(s.TakeClause),
            found.get(s.MergeClause),
            found.get(s.EmitClause),
            _span(meta),
            _name(name, binding=True) if name is not None else None,
            found.get(s.AcrossClause),
        )

    def across(self, meta: Any, children: list[Any]) -> s.AcrossClause:
        *names, resample = children
        return s.AcrossClause(tuple(_name(n) for n in names), resample, _span(meta))

    def resample(self, meta: Any, children: list[Any]) -> s.NamedRule:
        name, arguments = children
        args, kwargs = arguments if arguments is not None else ((), ())
        return s.NamedRule(str(name), _token_span(name), args, kwargs, _span(meta))

    def stage_clauses(self, meta: Any, children: list[Any]) -> list[Any]:
        return _present(children)

    def take(self, meta: Any, children: list[Any]) -> s.TakeClause:
        rule, order = children
        return s.TakeClause(rule, _span(meta), order)

    def merge(self, meta: Any, children: list[Any]) -> s.MergeClause:
        merge_kind, post = children
        post_block = s.Block(tuple(post or ()), _span(meta))
        return s.MergeClause(merge_kind, post_block, _span(meta))

    def emit(self, meta: Any, children: list[Any]) -> s.EmitClause:
        rule, order, using = children
        return s.EmitClause(rule, using, _span(meta), order)

    def order(self, meta: Any, children: list[Any]) -> str:
        words = " ".join(str(word) for word in children)
        if words not in ("newest first", "oldest first"):
            raise AggSpecError(
                f"expected 'newest first' or 'oldest first' after ',', got '{words}'", _span(meta)
            )
        return words.split()[0]

    def where_rule(self, meta: Any, children: list[Any]) -> s.WhereRule:
        return s.WhereRule(children[0], _span(meta))

    def named_rule(self, meta: Any, children: list[Any]) -> s.NamedRule:
        first, second, arguments = children
        name = f"{first} {second}" if second is not None else str(first)
        name_end = second if second is not None else first
        name_span = s.Span(first.line, first.column, name_end.end_line, name_end.end_column)
        args, kwargs = arguments if arguments is not None else ((), ())
        return s.NamedRule(name, name_span, args, kwargs, _span(meta))

    # explicit graph form
    def graph(self, meta: Any, children: list[Any]) -> s.Graph:
        input_name, *lines = children
        return s.Graph(_name(input_name, binding=True), tuple(_present(lines)), _span(meta))

    def binding(self, meta: Any, children: list[Any]) -> s.Binding:
        name, source, steps = children
        body = s.Block(tuple(steps or ()), _span(meta))
        return s.Binding(_name(name, binding=True), source, body, _span(meta))

    def source_value(self, meta: Any, children: list[Token]) -> s.Name:
        return _name(children[0])

    def source_merge(self, meta: Any, children: list[Any]) -> s.MergeSource:
        kind_token, project, *inputs = children
        kind_span = _token_span(kind_token)
        merge_kind = s.MergeKind(_name(kind_token), project is not None, kind_span, project is not False)
        return s.MergeSource(merge_kind, tuple(_name(t) for t in _present(inputs)), _span(meta))

    def return_(self, meta: Any, children: list[Token]) -> s.Return:
        return s.Return(_name(children[0]), _span(meta))

    def graph_body(self, meta: Any, children: list[Any]) -> tuple[s.GraphLine, ...]:
        return tuple(_present(children))

    def graph_for(self, meta: Any, children: list[Any]) -> s.GraphFor:
        (targets, destructure), iterable, body = children
        return s.GraphFor(targets, destructure, iterable, body, _span(meta))

    def graph_if(self, meta: Any, children: list[Any]) -> s.GraphIf:
        test, body, *elifs, orelse = children
        return s.GraphIf(((test, body), *elifs), orelse, _span(meta))

    def graph_elif(self, meta: Any, children: list[Any]) -> tuple[s.Expr, tuple[s.GraphLine, ...]]:
        test, body = children
        return test, body

    # expressions
    def conditional(self, meta: Any, children: list[Any]) -> s.Conditional:
        body, test, orelse = children
        return s.Conditional(body, test, orelse, _span(meta))

    or_ = _binary("or")
    and_ = _binary("and")
    eq = _binary("==")
    ne = _binary("!=")
    lt = _binary("<")
    le = _binary("<=")
    gt = _binary(">")
    ge = _binary(">=")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    truediv = _binary("/")
    floordiv = _binary("//")
    mod = _binary("%")
    pow = _binary("**")
    in_ = _binary("in")
    not_in = _binary("not in")
    bitxor = _binary("^")
    bitand = _binary("&")
    lshift = _binary("<<")
    rshift = _binary(">>")

    def not_(self, meta: Any, children: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("not", children[0], _span(meta))

    def neg(self, meta: Any, children: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("-", children[0], _span(meta))

    def pos(self, meta: Any, children: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("+", children[0], _span(meta))

    def index(self, meta: Any, children: list[Any]) -> s.Index:
        value, index = children
        return s.Index(value, index, _span(meta))

    def func_call(self, meta: Any, children: list[Any]) -> s.FuncCall:
        func, *args = children
        return s.FuncCall(_name(func), tuple(_present(args)), _span(meta))

    def int_literal(self, meta: Any, children: list[Token]) -> s.Literal:
        text = str(children[0]).lstrip("0") or "0"
        if len(text) > _MAX_INT_DIGITS or int(text) > MAX_INT:
            raise AggSpecError(f"integer literal is too large (limit {MAX_INT})", _token_span(children[0]))
        return s.Literal(int(text), _token_span(children[0]))

    def float_literal(self, meta: Any, children: list[Token]) -> s.Literal:
        value = float(children[0])
        if not math.isfinite(value):
            raise AggSpecError("number is too large to represent", _token_span(children[0]))
        return s.Literal(value, _token_span(children[0]))

    def string_literal(self, meta: Any, children: list[Token]) -> s.Literal:
        token = children[0]
        raw = str(token)[1:-1]
        parts = []
        i = 0
        while i < len(raw):
            if raw[i] == "\\":
                escape = raw[i + 1]  # the STRING terminal never ends in a lone backslash
                if escape not in _ESCAPES:
                    span = _token_span(token)
                    col = span.col + 1 + i
                    raise AggSpecError(
                        f"unknown escape '\\{escape}' (strings know \\\\, \\\", \\n and \\t)",
                        s.Span(span.line, col, span.line, col + 2),
                    )
                parts.append(_ESCAPES[escape])
                i += 2
            else:
                parts.append(raw[i])
                i += 1
        return s.Literal("".join(parts), _token_span(token))

    def true(self, meta: Any, children: list[Any]) -> s.Literal:
        return s.Literal(True, _span(meta))

    def false(self, meta: Any, children: list[Any]) -> s.Literal:
        return s.Literal(False, _span(meta))

    def name(self, meta: Any, children: list[Token]) -> s.Name:
        return _name(children[0])

    def list_literal(self, meta: Any, children: list[Any]) -> s.ListExpr:
        return s.ListExpr(tuple(_present(children)), _span(meta))

    def tuple_literal(self, meta: Any, children: list[Any]) -> s.TupleExpr:
        return s.TupleExpr(tuple(_present(children)), _span(meta))


# Grammar rules named after Python keywords are spelled with a trailing
# underscore in the transformer; lark looks methods up by the rule name.
for _rule in ("def", "for", "if", "elif", "return"):
    setattr(_ToSyntax, _rule, getattr(_ToSyntax, f"{_rule}_"))
