"""The merge registry: how several values become one.

``concat`` joins along channels (inputs must agree on height and width); the
elementwise merges (``sum``, ``mean``, ``max``, ``weighted``) need equal
shapes, unless the merge asks for ``project``, in which case the elaborator
inserts a 1x1 conv + BN on each mismatched input first. ``weighted`` learns one
scalar per input, passed through a sigmoid (RandWire's aggregation).

Each entry also says how the compiler lowers it: ``"cat"`` (``torch.cat`` along
channels), ``"fold"`` (a pairwise ``fold`` applied left to right, optionally
divided by the input count; the compiler shares common prefixes, which makes
``take dense; merge sum`` a running sum) or ``"module"`` (a learned module from
``aggspec.torch_runtime`` taking the input count).
Adding a merge is adding one ``register(Merge(...))`` call below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aggspec.ir.shapes import OpError, Shape, format_shape

__all__ = ["MERGES", "Merge", "register"]


@dataclass(frozen=True)
class Merge:
    name: str
    elementwise: bool  # True: inputs must share one shape; False: concatenation
    params_per_input: int = 0
    summary: str = ""
    lowering: str = "fold"  # "cat", "fold" or "module"
    fold: str = "add"  # for "fold": "add" (a + b) or "maximum" (torch.maximum(a, b))
    average: bool = False  # for "fold": divide the result by the number of inputs
    module: str = ""  # for "module": the torch_runtime class, constructed with the input count

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        """The merged shape; raises ``OpError`` when the inputs cannot be combined."""
        first = shapes[0]
        if self.elementwise:
            for shape in shapes[1:]:
                if shape != first:
                    raise OpError(
                        f"cannot {self.name} values of shapes "
                        f"{', '.join(format_shape(s) for s in shapes)}: shapes differ "
                        f"(ask for '{self.name}(project)' to project them)"
                    )
            return first
        if any(len(s) != len(first) for s in shapes) or any(s[1:] != first[1:] for s in shapes):
            raise OpError(
                "cannot concat values of shapes "
                f"{', '.join(format_shape(s) for s in shapes)}: all but the channel size must agree"
            )
        return (sum(s[0] for s in shapes), *first[1:])

    def count_params(self, fan_in: int) -> int:
        return self.params_per_input * fan_in


MERGES: dict[str, Merge] = {}


def register(merge: Merge) -> Merge:
    assert merge.name not in MERGES, f"merge {merge.name!r} registered twice"
    MERGES[merge.name] = merge
    return merge


register(
    Merge("concat", elementwise=False, summary="concatenate along channels, in rule order", lowering="cat")
)
register(Merge("sum", elementwise=True, summary="elementwise sum"))
register(Merge("mean", elementwise=True, summary="elementwise mean", average=True))
register(Merge("max", elementwise=True, summary="elementwise maximum", fold="maximum"))
register(
    Merge(
        "weighted",
        elementwise=True,
        params_per_input=1,
        summary="sum of inputs scaled by sigmoid(learned weight), one weight per input",
        lowering="module",
        module="WeightedSum",
    )
)
