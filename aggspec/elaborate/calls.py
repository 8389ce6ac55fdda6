"""Calls: built-in ops, definition calls, and binding the arguments of either.

An op call adds one IR node fed by the current value. A definition call runs
the definition's body in a scope of its own (``transition1``), with the
formals bound and ``C``, ``H``, ``W`` naming the shape it receives; an error
inside it gains a note pointing at the call. Argument evaluation and binding
are shared with the connectivity rules, which take arguments the same way.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aggspec.elaborate.context import MAX_NOTES, Context, NameScope, Value, shape_names
from aggspec.errors import AggSpecError, Note
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS
from aggspec.ir.shapes import OpError
from aggspec.ir.signature import Signature, SignatureError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import FUNCTIONS, Env, evaluate
from aggspec.span import Span
from aggspec.values import show_value

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["arguments", "bind", "call", "describe_call"]


def call(
    elaborator: Elaborator, step: s.Call, value: Value, context: Context, scope: NameScope | None = None
) -> Value:
    """Apply an op or a definition to ``value``; ``scope`` names a stage unit's nodes (``layer3``)."""
    name = step.name.id
    if name in elaborator.defs:
        return _call_def(elaborator, step, value, context, scope)
    if name in OPS:
        return _apply_op(elaborator, step, value, context, scope or context.scope)
    raise AggSpecError(_unknown_callable(elaborator, name), step.name.span)


def _unknown_callable(elaborator: Elaborator, name: str) -> str:
    if name in MERGES:
        return f"'{name}' is a merge, not an op; combine branches with 'join {name} {{ a | b }}'"
    if name in FUNCTIONS:
        return f"'{name}' is a function of values; it cannot be applied as an op"
    close = difflib.get_close_matches(name, sorted({*OPS, *elaborator.defs}), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown op or definition '{name}'{hint}"


def arguments(call: s.Call | s.NamedRule, env: Env) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments, evaluated in ``env``."""
    args = [evaluate(a, env) for a in call.args]
    kwargs = {k.name: evaluate(k.value, env) for k in call.kwargs}
    return args, kwargs


def bind(signature: Signature, owner: str, call: s.Call | s.NamedRule, env: Env) -> dict[str, Any]:
    """Bind the call's arguments to a registry entry's signature; a failure points at the argument."""
    args, kwargs = arguments(call, env)
    try:
        return signature.bind(owner, args, kwargs)
    except SignatureError as exc:
        raise AggSpecError(exc.message, _argument_span(call, exc.argument)) from None


def describe_call(call: s.Call, env: Env) -> str:
    """The call as a reader would write it with its arguments evaluated: ``unit(24)``."""
    if not call.has_parens:
        return call.name.id
    args, kwargs = arguments(call, env)
    parts = [show_value(a) for a in args] + [f"{k}={show_value(v)}" for k, v in kwargs.items()]
    return f"{call.name.id}({', '.join(parts)})"


# Sizes, strides and paddings reach PyTorch's kernels as 32-bit ints (pooling refuses
# larger ones, oneDNN may overflow), so an op's int arguments stay within this.
_TORCH_INT = 2**31 - 1


def _apply_op(
    elaborator: Elaborator, call: s.Call, value: Value, context: Context, scope: NameScope
) -> Value:
    op = OPS[call.name.id]
    args = op.resolve_args(bind(op.signature, call.name.id, call, context.env))
    for name, arg in args.items():
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > _TORCH_INT:
            raise AggSpecError(
                f"argument '{name}' of {op.name} is {arg:,}, beyond {_TORCH_INT:,}, "
                "the most PyTorch's kernels take",
                _argument_span(call, _position(op.signature, name, call)),
            )
    try:
        shape = op.infer_shape(value.shape, args)
    except OpError as exc:
        raise AggSpecError(str(exc), call.span) from None
    node = elaborator.add_node(
        scope.fresh(op.name),
        scope,
        context,
        kind="op",
        op=op.name,
        args=args,
        shape=shape,
        span=call.span,
        role="op",
        layer=context.layer,
        inputs=(value.node,),
    )
    return Value(node, shape)


def _call_def(
    elaborator: Elaborator, call: s.Call, value: Value, context: Context, scope: NameScope | None
) -> Value:
    definition = elaborator.defs[call.name.id]
    limit = elaborator.limits.max_recursion
    if context.depth >= limit:
        raise AggSpecError(
            f"definitions nest deeper than {limit} calls (unbounded recursion in '{call.name.id}'?)",
            call.span,
        )
    bound = _bind_formals(elaborator, definition, call, context.env)
    env = Env(
        {**bound, **shape_names(value.shape)},
        parent=Env(dict(context.position or {}), parent=elaborator.globals),
    )
    inner = replace(
        context,
        env=env,
        scope=scope or context.scope.child_fresh(definition.name.id),
        follow_shape=False,
        depth=context.depth + 1,
    )
    try:
        return elaborator.block(definition.body, value, inner)
    except AggSpecError as exc:
        if len(exc.notes) >= MAX_NOTES:
            raise
        note = Note(f"in '{call.name.id}' called here", call.span)
        if exc.notes and exc.notes[-1] == note:  # recursion: say it once
            raise
        raise exc.with_note(note) from None


def _bind_formals(elaborator: Elaborator, definition: s.Def, call: s.Call, env: Env) -> dict[str, Any]:
    formals = definition.formals
    name = definition.name.id
    if len(call.args) > len(formals):
        raise AggSpecError(
            f"'{name}' takes {len(formals)} argument{'s' if len(formals) != 1 else ''}, got {len(call.args)}",
            call.args[len(formals)].span,
        )
    args, kwargs = arguments(call, env)
    bound = {f.name.id: v for f, v in zip(formals, args, strict=False)}
    names = {f.name.id for f in formals}
    for keyword in call.kwargs:
        if keyword.name not in names:
            raise AggSpecError(f"'{name}' has no argument '{keyword.name}'", keyword.span)
        if keyword.name in bound:
            raise AggSpecError(f"'{name}' got argument '{keyword.name}' twice", keyword.span)
        bound[keyword.name] = kwargs[keyword.name]
    for formal in formals:
        if formal.name.id not in bound:
            if formal.default is None:
                raise AggSpecError(f"'{name}' needs argument '{formal.name.id}'", call.span)
            bound[formal.name.id] = evaluate(formal.default, elaborator.globals)
    return bound


def _position(signature: Signature, name: str, call: s.Call) -> int | str:
    """Where argument ``name`` was given: its position if passed positionally, else its keyword."""
    names = [parameter.name for parameter in signature.parameters]
    index = names.index(name) if name in names else len(call.args)
    return index if index < len(call.args) else name


def _argument_span(call: s.Call | s.NamedRule, argument: int | str | None) -> Span:
    if isinstance(argument, int) and argument < len(call.args):
        return call.args[argument].span
    if isinstance(argument, str):
        for keyword in call.kwargs:
            if keyword.name == argument:
                return keyword.span
    return call.span
