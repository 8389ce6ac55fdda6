"""The merge registry: how several values become one.

``concat`` joins along channels (inputs must agree on height and width); the
elementwise merges (``sum``, ``mean``, ``max``, ``weighted``) need equal
shapes, unless the merge asks for ``project``, in which case the elaborator
inserts a 1x1 conv + BN on each mismatched input first. ``weighted`` learns one
scalar per input, passed through a sigmoid (RandWire's aggregation).

A ``Merge`` entry is everything every part of aggspec needs to know about the
merge: its shape rule (``same_shape``, ``concatenated`` or ``broadcast``, or
any function of the input shapes), its parameter and MAC counts, how the
compiler lowers it (``lower``, a function of a ``GraphBuilder``; the standalone
source prints whatever that builds) and its colour in diagrams. Nothing here
imports torch. Adding a merge is adding one ``register(Merge(...))`` call
below, and nothing else:

>>> from aggspec.ir.shapes import format_shape
>>> gate = Merge("gate", elementwise=False, shape_rule=broadcast, lower=fold("operator.mul"))
>>> format_shape(gate.output_shape([(16, 8, 8), (16, 1, 1)]))
'16x8x8'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aggspec.ir.lowering import GraphBuilder, MergeLowering, TorchCall, Value
from aggspec.ir.shapes import OpError, Shape, format_shape

__all__ = [
    "MERGES",
    "Merge",
    "ShapeRule",
    "broadcast",
    "concatenated",
    "fold",
    "register",
    "same_shape",
]

# A merge's shape rule: (merge name, input shapes) -> output shape, or OpError.
ShapeRule = Callable[[str, Sequence[Shape]], Shape]


def _listed(shapes: Sequence[Shape]) -> str:
    return ", ".join(format_shape(s) for s in shapes)


def same_shape(name: str, shapes: Sequence[Shape]) -> Shape:
    """Every input has one shape, which is the output's (what ``project`` can provide)."""
    first = shapes[0]
    if any(shape != first for shape in shapes[1:]):
        raise OpError(
            f"'{name}' cannot merge values of shapes {_listed(shapes)}: shapes differ "
            f"(ask for '{name}(project)' to project them)"
        )
    return first


def concatenated(name: str, shapes: Sequence[Shape]) -> Shape:
    """Channels add up; every other dimension must agree."""
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes) or any(s[1:] != first[1:] for s in shapes):
        raise OpError(
            f"'{name}' cannot merge values of shapes {_listed(shapes)}: all but the channel size must agree"
        )
    return (sum(s[0] for s in shapes), *first[1:])


def broadcast(name: str, shapes: Sequence[Shape]) -> Shape:
    """PyTorch broadcasting over the dimensions after the batch: sizes agree or one is 1.

    The inputs must have the same number of dimensions: PyTorch aligns shapes
    from the right, so features (F,) against a CxHxW map would pair F with W
    and the batch with H.

    >>> broadcast("gate", [(16, 1, 1), (16, 8, 8), (1, 8, 1)])
    (16, 8, 8)
    """
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes):
        raise OpError(f"'{name}' cannot merge values of shapes {_listed(shapes)}: they differ in rank")
    out = []
    for sizes in zip(*shapes, strict=True):
        wide = {size for size in sizes if size != 1}
        if len(wide) > 1:
            raise OpError(
                f"'{name}' cannot merge values of shapes {_listed(shapes)}: "
                "each size must agree or be 1 (PyTorch broadcasting)"
            )
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def fold(function: str, *, average: bool = False) -> MergeLowering:
    """The lowering ``function(function(x1, x2), x3) ...``, divided by the input count if ``average``."""

    def lower(builder: GraphBuilder, inputs: Sequence[Value]) -> Value:
        total = builder.fold(function, inputs)
        if not average:
            return total
        return builder.call("operator.truediv", (total, len(inputs)), suffix="mean")

    return lower


def _concat(builder: GraphBuilder, inputs: Sequence[Value]) -> Value:
    return builder.call("torch.cat", (list(inputs),), {"dim": 1})


def _weighted_sum(builder: GraphBuilder, inputs: Sequence[Value]) -> Value:
    # one list argument, not *args: TorchScript cannot script varargs
    return builder.module(TorchCall("WeightedSum", (len(inputs),), runtime=True), (list(inputs),))


def _no_macs(shapes: Sequence[Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class Merge:
    """One way to merge values: shape rule, counts, lowering and drawing, in one entry."""

    name: str
    # True: an elementwise merge of equal shapes, which `(project)` can make equal.
    elementwise: bool
    lower: MergeLowering
    shape_rule: ShapeRule = same_shape
    params_per_input: int = 0
    # Multiply-accumulates per sample, from the input and output shapes. Merges
    # are elementwise or copies, which FlopCounterMode (and analysis) count as 0.
    count_macs: Callable[[Sequence[Shape], Shape], int] = _no_macs
    summary: str = ""
    colour: str = "#e5d8bd"  # fill colour in diagrams
    # Input shapes the registry test merges, checking the entry against PyTorch.
    examples: tuple[tuple[Shape, ...], ...] = (((4, 8, 8), (4, 8, 8)), ((4, 8, 8), (4, 8, 8), (4, 8, 8)))
    # Whether autograd keeps its inputs for the backward pass (a maximum, a product
    # with learned gates); sums and concatenations keep nothing.
    saves_inputs: bool = False
    # Whether it also keeps the partial results of folding its inputs pairwise
    # (``max(max(a, b), c)`` keeps ``max(a, b)``).
    saves_partials: bool = False
    # Whether its backward hands its output's gradient to its inputs without new
    # memory (a sum passes the same tensor on, a concatenation slices it into
    # views): the training-memory model (analysis/step_peak.py) then allocates none.
    gradient_passes_through: bool = False
    # Whether build's shape check runs its module on an empty CPU batch rather
    # than meta tensors: for a lowering with one small op per input (a learned
    # gate each), where meta tensors cost a fraction of a millisecond per op
    # and a 1,000-input merge seconds. Only for modules with tiny weights.
    checked_on_empty_batch: bool = False

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        """The merged shape; raises ``OpError`` when the inputs cannot be combined."""
        return self.shape_rule(self.name, shapes)

    def count_params(self, fan_in: int) -> int:
        return self.params_per_input * fan_in


MERGES: dict[str, Merge] = {}


def register(merge: Merge) -> Merge:
    if merge.name in MERGES:  # not an assert: under python -O a second entry would replace the first
        raise ValueError(f"merge {merge.name!r} is already registered")
    MERGES[merge.name] = merge
    return merge


register(
    Merge(
        "concat",
        elementwise=False,
        lower=_concat,
        shape_rule=concatenated,
        summary="concatenate along channels, in rule order",
        colour="#bcbddc",
        gradient_passes_through=True,
        examples=(((4, 8, 8), (2, 8, 8)), ((4, 8, 8), (2, 8, 8), (4, 8, 8)), ((16,), (8,))),
    )
)
register(
    Merge(
        "sum",
        elementwise=True,
        lower=fold("operator.add"),
        summary="elementwise sum",
        colour="#fc9272",
        gradient_passes_through=True,
    )
)
register(
    Merge(
        "mean",
        elementwise=True,
        lower=fold("operator.add", average=True),
        summary="elementwise mean",
        colour="#fdd0a2",
    )
)
register(
    Merge(
        "max",
        elementwise=True,
        lower=fold("torch.maximum"),
        summary="elementwise maximum",
        saves_inputs=True,
        saves_partials=True,
        colour="#c7e9c0",
    )
)
register(
    Merge(
        "weighted",
        elementwise=True,
        lower=_weighted_sum,
        params_per_input=1,
        summary="sum of inputs scaled by sigmoid(learned weight), one weight per input",
        colour="#fa9fb5",
        saves_inputs=True,
        checked_on_empty_batch=True,
    )
)
register(
    Merge(
        "mul",
        elementwise=False,  # broadcasting, not equal shapes: `(project)` has no shape to aim at
        lower=fold("operator.mul"),
        shape_rule=broadcast,
        summary="elementwise product, broadcasting: a Cx1x1 gate scales a CxHxW value (squeeze-excitation)",
        colour="#9ebcda",
        saves_inputs=True,  # each factor's gradient needs the other factors
        examples=(((4, 8, 8), (4, 1, 1)), ((4, 8, 8), (4, 8, 8)), ((4, 1, 1), (4, 8, 8), (1, 8, 8))),
    )
)
