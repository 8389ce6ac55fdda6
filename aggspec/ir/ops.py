"""The op registry: every built-in op is one ``Op`` entry.

An entry says how the op is called (its ``Signature``), what shape it produces
from its input shape (raising ``OpError`` on input it cannot take), how many
parameters it owns and multiply-accumulates it does, which PyTorch module
implements it (a ``TorchCall``: data the compiler builds and the source printer
prints, so the two cannot disagree), how diagrams label it and which family it
belongs to (which colours it: ``FAMILY_COLOURS``, and an unlisted family gets a
colour of its own), and examples of its use that the registry test runs
against PyTorch. Ops follow PyTorch semantics: ``conv`` is ``nn.Conv2d`` with
padding ``k // 2``, ``bn`` is ``BatchNorm2d`` (``BatchNorm1d`` on features),
and so on. Nothing here imports torch.

Shapes exclude the batch: ``(C, H, W)`` for feature maps, ``(F,)`` for features.
Adding an op, even of a new family, is adding one ``register(Op(...))`` call below.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aggspec.ir.lowering import GraphBuilder, TorchCall, Value
from aggspec.ir.shapes import OpError, Shape, format_shape
from aggspec.ir.signature import Parameter, Signature

__all__ = ["FAMILY_COLOURS", "OPS", "Example", "Op", "OpLowering", "TorchCall", "family_colour", "register"]

Args = Mapping[str, Any]
# An op's lowering: the builder, its input value, the input's shape and its arguments.
OpLowering = Callable[[GraphBuilder, Value, Shape, Args], Value]

# Diagram fill colour of each op family, in the order a legend lists them.
FAMILY_COLOURS = {
    "conv": "#9ecae1",
    "linear": "#fdae6b",
    "norm": "#d9d9d9",
    "activation": "#fff7bc",
    "pool": "#a1d99b",
    "reshape": "#f7f7f7",
    "regularize": "#fcc5c0",
    "other": "#ffffff",
}

# Colours for families not in the table, picked by the family's name: stable
# from run to run, and distinct from the table's.
_SPARE_COLOURS = ("#dadaeb", "#c7eae5", "#fde0ef", "#e6f5d0", "#fee391", "#d0d1e6", "#f6e8c3", "#ccebc5")


def family_colour(family: str) -> str:
    """The diagram colour of an op family; every family has one, listed or not.

    >>> family_colour("conv"), family_colour("resample") == family_colour("resample")
    ('#9ecae1', True)
    """
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    return _SPARE_COLOURS[zlib.crc32(family.encode()) % len(_SPARE_COLOURS)]


@dataclass(frozen=True)
class Example:
    """A use of an op, in .agg syntax, that the registry test runs against PyTorch."""

    call: str
    input: Shape = (4, 8, 8)


def _no_params(shape: Shape, args: Args) -> int:
    return 0


def _no_macs(shape: Shape, out: Shape, args: Args) -> int:
    return 0


def _no_detail(args: Args) -> str:
    return ""


def _keeps_nothing_more(in_shape: Shape, out_shape: Shape, batch: int, args: Args) -> int:
    return 0


@dataclass(frozen=True)
class Op:
    """One op: how it is called, shaped, counted, compiled and drawn, in one entry."""

    name: str
    signature: Signature
    infer_shape: Callable[[Shape, Args], Shape]
    # The module that computes it: the compiler calls one per op application
    # (None when ``lower`` says how to compute it instead).
    torch_module: Callable[[Shape, Args], TorchCall] | None = None
    count_params: Callable[[Shape, Args], int] = _no_params
    # Multiply-accumulates per sample, given the input and output shapes. Only
    # convolutions and linear layers count, as in fvcore and torch's
    # FlopCounterMode (which reports 2 FLOPs per MAC); elementwise ops do not.
    count_macs: Callable[[Shape, Shape, Args], int] = _no_macs
    # conv, linear, norm, activation, pool, reshape, regularize, other, or a new one
    family: str = "other"
    # A weight layer (convolution, linear) is what network depth counts along a
    # path, and what names a group of ops in a diagram.
    weight_layer: bool = False
    summary: str = ""
    # Fills the defaults that depend on other arguments (a pool's stride is its
    # kernel size), so that the IR holds every argument resolved.
    # The elaborator applies it right after binding the call.
    resolve_args: Callable[[dict[str, Any]], dict[str, Any]] = dict
    # What a diagram adds to the name, from the arguments: "3x3 /2" for a strided conv.
    detail: Callable[[Args], str] = _no_detail
    # Uses the registry test checks against PyTorch; none: the bare name on a 4x8x8 input.
    examples: tuple[Example, ...] = ()
    # For an op that is no torch.nn module (a channel slice, an interpolation):
    # builds its fx nodes from the builder, its input value, input shape and
    # arguments, as a merge's ``lower`` does. Exactly one of this and
    # ``torch_module`` is given.
    lower: OpLowering | None = None
    # What autograd keeps of this op for the backward pass, besides parameters:
    # its "input", its "output" or "nothing" (``analysis/training.py`` adds it up).
    saves: str = "input"
    # Bytes kept besides that, for a batch, from the input and output shapes and
    # the arguments (batch norm's per-channel statistics, max pooling's int64 indices).
    saves_extra: Callable[[Shape, Shape, int, Args], int] = _keeps_nothing_more
    # Its output is its input or a view of it (flatten, identity): no new storage.
    aliases_input: bool = False

    def __post_init__(self) -> None:
        if self.saves not in ("input", "output", "nothing"):
            raise ValueError(f"op {self.name!r}: saves must be 'input', 'output' or 'nothing'")
        if (self.torch_module is None) == (self.lower is None):
            raise ValueError(f"op {self.name!r}: give exactly one of torch_module and lower")

    @property
    def colour(self) -> str:
        """Fill colour in diagrams: the family's."""
        return family_colour(self.family)

    def describe(self, args: Args) -> str:
        """The op as a diagram labels it: ``conv 3x3 /2``, ``maxpool 2``, ``relu``."""
        detail = self.detail(args)
        return f"{self.name} {detail}" if detail else self.name


def _pool_stride(args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "stride": args["k"] if args["stride"] is None else args["stride"]}


def _plain(cls: str) -> Callable[[Shape, Args], TorchCall]:
    """A module whose constructor takes no arguments: ``nn.ReLU()``."""
    return lambda shape, args: TorchCall(cls)


OPS: dict[str, Op] = {}

# Memory-efficient mode, in one place for the pass that compiles it
# (``pytorch/passes/memory_efficient.py``) and the analysis that predicts it
# (``analysis/training.py``): a recomputed segment is a chain of ops of these
# families ending in one of these ops, whose gradients ``runtime.RecomputedSegment``
# takes itself (``nn.Conv2d``, ``nn.Linear``).
RECOMPUTED_FAMILIES = frozenset({"norm", "activation"})
SEGMENT_ENDS = frozenset({"conv", "linear"})


def register(op: Op) -> Op:
    if op.name in OPS:  # not an assert: under python -O a second entry would replace the first
        raise ValueError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    return op


# ---------------------------------------------------------------- shape helpers


def _feature_map(name: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise OpError(f"{name} needs a CxHxW feature map, got features of shape {format_shape(shape)}")
    c, h, w = shape
    return c, h, w


def _features(name: str, shape: Shape) -> int:
    if len(shape) != 1:
        raise OpError(f"{name} needs flat features, got a {format_shape(shape)} feature map (add 'flatten')")
    return shape[0]


def _positive(name: str, what: str, value: int) -> int:
    if value <= 0:
        raise OpError(f"{name} needs a positive {what}, got {value}")
    return value


def _sliding(
    name: str, h: int, w: int, k: int, stride: int, padding: int, dilation: int = 1
) -> tuple[int, int]:
    reach = dilation * (k - 1) + 1  # the kernel's extent over the input
    out_h = (h + 2 * padding - reach) // stride + 1
    out_w = (w + 2 * padding - reach) // stride + 1
    if out_h < 1 or out_w < 1:
        dilated = f", dilation {dilation}" if dilation != 1 else ""
        raise OpError(
            f"{name} with kernel {k}, stride {stride}{dilated} and padding {padding} leaves no spatial "
            f"size from a {h}x{w} input"
        )
    return out_h, out_w


def _same(shape: Shape, args: Args) -> Shape:
    return shape


# ---------------------------------------------------------------- convolution and linear


def _convolution(name: str, shape: Shape, args: Args) -> tuple[int, int, int, int, int]:
    """What a convolution, plain or transposed, checks of its arguments: (h, w, out, k, stride)."""
    c, h, w = _feature_map(name, shape)
    out = _positive(name, "output channel count", args["out"])
    k = _positive(name, "kernel size", args["k"])
    stride = _positive(name, "stride", args["stride"])
    groups = _positive(name, "group count", args["groups"])
    if c % groups or out % groups:
        raise OpError(
            f"{name} groups={groups} must divide both input channels ({c}) and output channels ({out})"
        )
    return h, w, out, k, stride


def _conv_shape(shape: Shape, args: Args) -> Shape:
    h, w, out, k, stride = _convolution("conv", shape, args)
    dilation = _positive("conv", "dilation", args["dilation"])
    if args["padding"] < 0:
        raise OpError(f"conv padding must be 0 or more, got {args['padding']}")
    return (out, *_sliding("conv", h, w, k, stride, args["padding"], dilation))


def _conv_padding(args: dict[str, Any]) -> dict[str, Any]:
    # "same" padding for odd kernels at stride 1, dilated or not: dilation * (k // 2)
    padding = args["dilation"] * (args["k"] // 2) if args["padding"] is None else args["padding"]
    return {**args, "padding": padding}


def _conv_detail(args: Args) -> str:
    detail = f"{args['k']}x{args['k']}" + (f" /{args['stride']}" if args["stride"] != 1 else "")
    return detail + (f" d{args['dilation']}" if args["dilation"] != 1 else "")


def _conv_detail_transposed(args: Args) -> str:
    return f"{args['k']}x{args['k']}" + (f" x{args['stride']}" if args["stride"] != 1 else "")


def _conv_params(shape: Shape, args: Args) -> int:
    # out x in / groups x k x k: a transposed conv's weight (in, out / groups, k, k) is as many
    out: int = args["out"]
    weights: int = out * (shape[0] // args["groups"]) * args["k"] * args["k"]
    return weights + (out if args["bias"] else 0)


def _conv_module(shape: Shape, args: Args) -> TorchCall:
    dilated = (("dilation", args["dilation"]),) if args["dilation"] != 1 else ()
    return TorchCall(
        "Conv2d",
        (shape[0], args["out"]),
        (
            ("kernel_size", args["k"]),
            ("stride", args["stride"]),
            ("padding", args["padding"]),
            *dilated,
            ("groups", args["groups"]),
            ("bias", args["bias"]),
        ),
    )


register(
    Op(
        "conv",
        Signature(
            (
                Parameter("out", "int"),
                Parameter("k", "int"),
                Parameter("stride", "int", 1),
                Parameter("groups", "int", 1),
                Parameter("bias", "bool", False),
                Parameter("padding", "int", None),
                Parameter("dilation", "int", 1),
            )
        ),
        _conv_shape,
        _conv_module,
        _conv_params,
        lambda shape, out, args: out[0] * out[1] * out[2] * (shape[0] // args["groups"]) * args["k"] ** 2,
        family="conv",
        weight_layer=True,
        summary="2-d convolution; padding defaults to dilation * (k // 2) (nn.Conv2d)",
        resolve_args=_conv_padding,
        detail=_conv_detail,
        examples=(
            Example("conv(6, 3)"),
            Example("conv(8, 1, stride=2, groups=2, bias=true)", (4, 9, 9)),
            Example("conv(6, 3, padding=0)", (4, 9, 9)),
            Example("conv(4, 3, dilation=2)", (4, 9, 9)),
            Example("conv(4, 3, stride=2, padding=2, dilation=3)", (4, 11, 11)),
        ),
    )
)


def _transposed_shape(shape: Shape, args: Args) -> Shape:
    h, w, out, k, stride = _convolution("conv_transpose", shape, args)
    padding, extra = args["padding"], args["output_padding"]
    if padding < 0 or not 0 <= extra < stride:
        raise OpError(
            f"conv_transpose needs padding of 0 or more and output_padding from 0 to stride - 1, "
            f"got padding {padding} and output_padding {extra}"
        )
    size = [(n - 1) * stride - 2 * padding + k + extra for n in (h, w)]
    if min(size) < 1:
        raise OpError(f"conv_transpose with kernel {k} and padding {padding} leaves no size from {h}x{w}")
    return (out, size[0], size[1])


register(
    Op(
        "conv_transpose",
        Signature(
            (
                Parameter("out", "int"),
                Parameter("k", "int"),
                Parameter("stride", "int", 1),
                Parameter("padding", "int", 0),
                Parameter("output_padding", "int", 0),
                Parameter("groups", "int", 1),
                Parameter("bias", "bool", False),
            )
        ),
        _transposed_shape,
        lambda shape, args: TorchCall(
            "ConvTranspose2d",
            (shape[0], args["out"]),
            (
                ("kernel_size", args["k"]),
                ("stride", args["stride"]),
                ("padding", args["padding"]),
                ("output_padding", args["output_padding"]),
                ("groups", args["groups"]),
                ("bias", args["bias"]),
            ),
        ),
        _conv_params,
        # each input position scatters into a k x k window of out / groups channels
        lambda shape, out, args: (
            shape[0] * shape[1] * shape[2] * (args["out"] // args["groups"]) * args["k"] ** 2
        ),
        family="conv",
        weight_layer=True,
        summary="transposed 2-d convolution, the learned upsampling (nn.ConvTranspose2d)",
        detail=_conv_detail_transposed,
        examples=(
            Example("conv_transpose(6, 2, stride=2)"),
            Example("conv_transpose(4, 3, stride=2, padding=1, output_padding=1, bias=true)", (4, 5, 5)),
            Example("conv_transpose(4, 3, groups=2)"),
        ),
    )
)


def _linear_shape(shape: Shape, args: Args) -> Shape:
    _features("linear", shape)
    return (_positive("linear", "output size", args["out"]),)


register(
    Op(
        "linear",
        Signature((Parameter("out", "int"), Parameter("bias", "bool", True))),
        _linear_shape,
        lambda shape, args: TorchCall("Linear", (shape[0], args["out"]), (("bias", args["bias"]),)),
        lambda shape, args: shape[0] * args["out"] + (args["out"] if args["bias"] else 0),
        lambda shape, out, args: shape[0] * out[0],
        family="linear",
        weight_layer=True,
        summary="fully connected layer (nn.Linear)",
        examples=(Example("linear(5)", (16,)), Example("linear(3, bias=false)", (8,))),
    )
)

# ---------------------------------------------------------------- normalisation, activations


register(
    Op(
        "bn",
        Signature(),
        _same,
        lambda shape, args: TorchCall("BatchNorm2d" if len(shape) == 3 else "BatchNorm1d", (shape[0],)),
        lambda shape, args: 2 * shape[0],
        family="norm",
        saves_extra=lambda shape, out, batch, args: 2 * 4 * shape[0],  # the batch mean and 1/std, fp32
        summary="batch normalisation over channels (nn.BatchNorm2d; BatchNorm1d on features)",
        examples=(Example("bn"), Example("bn", (16,))),
    )
)


def _groupnorm_shape(shape: Shape, args: Args) -> Shape:
    c, h, w = _feature_map("groupnorm", shape)
    groups = _positive("groupnorm", "group count", args["groups"])
    if c % groups:
        raise OpError(f"groupnorm groups={groups} must divide the channels ({c})")
    if c // groups * h * w < 2:  # PyTorch refuses to normalise a single value (its variance is 0/0)
        raise OpError(
            f"groupnorm groups={groups} on {format_shape(shape)} leaves one value per group to normalise"
        )
    return shape


register(
    Op(
        "groupnorm",
        Signature((Parameter("groups", "int"),)),
        _groupnorm_shape,
        lambda shape, args: TorchCall("GroupNorm", (args["groups"], shape[0])),
        lambda shape, args: 2 * shape[0],
        family="norm",
        # besides the input: each sample's per-group mean and 1/std, fp32
        saves_extra=lambda shape, out, batch, args: 2 * 4 * batch * args["groups"],
        summary="group normalisation: channels in groups, each normalised over its channels and positions",
        detail=lambda args: str(args["groups"]),
        examples=(Example("groupnorm(2)"), Example("groupnorm(1)"), Example("groupnorm(4)")),
    )
)


def _layernorm_module(shape: Shape, args: Args) -> TorchCall:
    if len(shape) == 1:
        return TorchCall("LayerNorm", (shape[0],))
    return TorchCall("ChannelLayerNorm", (shape[0],), runtime=True)


register(
    Op(
        "layernorm",
        Signature(),
        _same,
        _layernorm_module,
        lambda shape, args: 2 * shape[0],
        family="norm",
        summary="layer normalisation over the channels at each position (ConvNeXt); nn.LayerNorm on features",
        # besides the input: the mean and 1/std of each position (each sample, on features), fp32
        saves_extra=lambda shape, out, batch, args: 2 * 4 * batch * math.prod(shape[1:]),
        examples=(Example("layernorm"), Example("layernorm", (16,))),
    )
)

for _name, _cls, _summary, _saves in (
    ("relu", "ReLU", "rectified linear unit", "output"),
    ("gelu", "GELU", "Gaussian error linear unit", "input"),
    ("sigmoid", "Sigmoid", "logistic sigmoid", "output"),
    ("tanh", "Tanh", "hyperbolic tangent", "output"),
    ("silu", "SiLU", "sigmoid linear unit (swish)", "input"),
    ("relu6", "ReLU6", "min(max(x, 0), 6) (MobileNetV2)", "input"),
    ("hardswish", "Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)", "input"),
    ("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6, a cheap gate (eSE, MobileNetV3)", "input"),
):
    register(Op(_name, Signature(), _same, _plain(_cls), family="activation", summary=_summary, saves=_saves))

register(
    Op(
        "leaky_relu",
        Signature((Parameter("slope", "float", 0.01),)),
        _same,
        lambda shape, args: TorchCall("LeakyReLU", (args["slope"],)),
        family="activation",
        summary="max(x, 0) + slope * min(x, 0) (CSPNet, DarkNet; nn.LeakyReLU)",
        examples=(Example("leaky_relu"), Example("leaky_relu(0.2)")),
    )
)

register(
    Op(
        "identity",
        Signature(),
        _same,
        _plain("Identity"),
        family="reshape",
        summary="passes its input through",
        saves="nothing",
        aliases_input=True,
    )
)


def _dropout_shape(shape: Shape, args: Args) -> Shape:
    if not 0.0 <= args["p"] <= 1.0:
        raise OpError(f"dropout probability must be between 0 and 1, got {args['p']}")
    return shape


register(
    Op(
        "dropout",
        Signature((Parameter("p", "float", 0.5),)),
        _dropout_shape,
        lambda shape, args: TorchCall("Dropout", (), (("p", args["p"]),)),
        family="regularize",
        saves="nothing",
        saves_extra=lambda shape, out, batch, args: 4 * batch * math.prod(shape),  # the scaled mask, fp32
        summary="zeroes elements with probability p while training",
        examples=(Example("dropout(0.25)"),),
    )
)

# ---------------------------------------------------------------- pooling and reshaping


def _pool_detail(args: Args) -> str:
    return str(args["k"])


def _pool_shape(name: str) -> Callable[[Shape, Args], Shape]:
    def infer(shape: Shape, args: Args) -> Shape:
        c, h, w = _feature_map(name, shape)
        k = _positive(name, "kernel size", args["k"])
        stride = _positive(name, "stride", args["stride"])
        padding = args.get("padding", 0)
        if padding < 0 or 2 * padding > k:
            raise OpError(f"{name} padding must be between 0 and half the kernel size, got {padding}")
        if args.get("ceil", False):
            return (c, _ceil_windows(name, h, k, stride, padding), _ceil_windows(name, w, k, stride, padding))
        return (c, *_sliding(name, h, w, k, stride, padding))

    return infer


def _ceil_windows(name: str, size: int, k: int, stride: int, padding: int) -> int:
    """Pooling windows along one side with ceil_mode, as PyTorch counts them."""
    if size + 2 * padding < k:
        raise OpError(f"{name} with kernel {k} and padding {padding} leaves no size from {size}")
    out = -(-(size + 2 * padding - k) // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window must start inside the input or left padding
        out -= 1
    return out


register(
    Op(
        "maxpool",
        Signature(
            (
                Parameter("k", "int"),
                Parameter("stride", "int", None),
                Parameter("padding", "int", 0),
                Parameter("ceil", "bool", False),
            )
        ),
        _pool_shape("maxpool"),
        lambda shape, args: TorchCall(
            "MaxPool2d",
            (),
            (
                ("kernel_size", args["k"]),
                ("stride", args["stride"]),
                ("padding", args["padding"]),
                *((("ceil_mode", True),) if args["ceil"] else ()),
            ),
        ),
        family="pool",
        summary="max pooling; stride defaults to k; ceil=true counts a partial last window (nn.MaxPool2d)",
        saves_extra=lambda shape, out, batch, args: 8 * batch * math.prod(out),  # argmax indices, int64
        resolve_args=_pool_stride,
        detail=_pool_detail,
        examples=(
            Example("maxpool(2)"),
            Example("maxpool(3, stride=2, padding=1)", (4, 9, 9)),
            Example("maxpool(3, stride=2, ceil=true)", (4, 8, 8)),
            Example("maxpool(2, ceil=true)", (4, 7, 7)),
            Example("maxpool(3, stride=2, padding=1, ceil=true)", (4, 10, 10)),
        ),
    )
)
register(
    Op(
        "avgpool",
        Signature((Parameter("k", "int"), Parameter("stride", "int", None))),
        _pool_shape("avgpool"),
        lambda shape, args: TorchCall(
            "AvgPool2d",
            (),
            (
                ("kernel_size", args["k"]),
                ("stride", args["stride"]),
            ),
        ),
        family="pool",
        summary="average pooling; stride defaults to k (nn.AvgPool2d)",
        resolve_args=_pool_stride,
        detail=_pool_detail,
        examples=(Example("avgpool(2)"), Example("avgpool(3, stride=1)")),
    )
)


def _gap_shape(shape: Shape, args: Args) -> Shape:
    c, _, _ = _feature_map("gap", shape)
    return (c, 1, 1)


register(
    Op(
        "gap",
        Signature(),
        _gap_shape,
        lambda shape, args: TorchCall("AdaptiveAvgPool2d", (1,)),
        family="pool",
        summary="global average pool to Cx1x1",
        saves="nothing",  # its backward spreads the gradient: it needs the input's size only
    )
)


_UPSAMPLE_MODES = ("nearest", "bilinear")


def _upsample_shape(shape: Shape, args: Args) -> Shape:
    c, h, w = _feature_map("upsample", shape)
    scale = _positive("upsample", "integer scale", args["scale"])
    if args["mode"] not in _UPSAMPLE_MODES:
        raise OpError(
            f"upsample mode must be one of {', '.join(map(repr, _UPSAMPLE_MODES))}, got {args['mode']!r}"
        )
    if args["align_corners"] and args["mode"] != "bilinear":
        raise OpError('upsample align_corners=true needs mode="bilinear"')
    return (c, h * scale, w * scale)


def _upsample_module(shape: Shape, args: Args) -> TorchCall:
    corners = (("align_corners", args["align_corners"]),) if args["mode"] == "bilinear" else ()
    return TorchCall("Upsample", (), (("scale_factor", args["scale"]), ("mode", args["mode"]), *corners))


register(
    Op(
        "upsample",
        Signature(
            (
                Parameter("scale", "int"),
                Parameter("mode", "str", "nearest"),
                Parameter("align_corners", "bool", False),
            )
        ),
        _upsample_shape,
        _upsample_module,
        family="resample",
        summary='enlarges H and W by an integer scale, mode "nearest" or "bilinear" (nn.Upsample)',
        saves="nothing",  # its backward needs the sizes only
        detail=lambda args: f"x{args['scale']}" + (" bilinear" if args["mode"] == "bilinear" else ""),
        examples=(
            Example("upsample(2)"),
            Example('upsample(3, mode="bilinear")', (4, 5, 5)),
            Example('upsample(2, mode="bilinear", align_corners=true)'),
        ),
    )
)


def _slice_shape(shape: Shape, args: Args) -> Shape:
    channels = shape[0]
    start, stop = args["start"], args["stop"]
    if not 0 <= start < stop <= channels:
        raise OpError(
            f"slice({start}, {stop}) must satisfy 0 <= start < stop <= {channels}, "
            f"the channels of its {format_shape(shape)} input"
        )
    return (stop - start, *shape[1:])


def _lower_slice(builder: GraphBuilder, x: Value, shape: Shape, args: Args) -> Value:
    # a view of the channels [start, stop), as x[:, start:stop] is
    return builder.call("torch.narrow", (x, 1, args["start"], args["stop"] - args["start"]))


register(
    Op(
        "slice",
        Signature((Parameter("start", "int"), Parameter("stop", "int"))),
        _slice_shape,
        family="reshape",
        summary="the channels start .. stop - 1, a view (x[:, start:stop])",
        lower=_lower_slice,
        saves="nothing",
        aliases_input=True,
        detail=lambda args: f"{args['start']}:{args['stop']}",
        examples=(Example("slice(1, 3)"), Example("slice(0, 8)", (16,)), Example("slice(3, 4)")),
    )
)


def _flatten_shape(shape: Shape, args: Args) -> Shape:
    size = 1
    for d in shape:
        size *= d
    return (size,)


register(
    Op(
        "flatten",
        Signature(),
        _flatten_shape,
        _plain("Flatten"),
        family="reshape",
        summary="CxHxW to C*H*W features",
        saves="nothing",
        aliases_input=True,
    )
)
