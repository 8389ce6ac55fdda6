"""Compiled models on a GPU: the same function as on the CPU and as hand-written PyTorch.

These run where PyTorch sees a CUDA device (``pytest -m cuda`` on a GPU
machine) and are skipped elsewhere. TF32 is switched off for the fp32
comparisons: it rounds matrix inputs to 10 bits, which would hide a wrong
connection inside rounding noise.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import aggspec
from aggspec import port_state_dict

from ..conftest import EXAMPLES
from ..references import densenet
from .test_equivalence import CASES as EQUIVALENCE_CASES
from .test_equivalence import perturb_batchnorm

pytestmark = pytest.mark.cuda

# The equivalence tests' networks, one per family (the 52-layer DenseNet-BC and SparseNet-BC).
CASES = [
    case
    for case in EQUIVALENCE_CASES
    if case[0] in {"resnet18.agg", "preact_resnet.agg", "randwire.agg"} or case[1].get("depth") == 52
]


@pytest.fixture(autouse=True)
def exact_fp32() -> Iterator[None]:
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def assert_near(actual: torch.Tensor, expected: torch.Tensor, tolerance: float, what: str) -> None:
    """``|actual - expected| / |expected| <= tolerance`` over the whole tensor (for nearly equal runs)."""
    assert torch.isfinite(actual).all(), what
    error = float((actual.double() - expected.double()).norm() / expected.double().norm().clamp_min(1e-30))
    assert error <= tolerance, f"{what}: relative error {error:.2e} > {tolerance:.0e}"


Result = tuple[torch.Tensor, dict[str, torch.Tensor]]


def _forward_backward(model: nn.Module, x: torch.Tensor) -> Result:
    model.zero_grad(set_to_none=True)
    y = model(x)
    y.square().mean().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return y.detach(), grads


def _truth(model: nn.Module, x: torch.Tensor) -> Result:
    """The same step in float64 on the CPU: what every fp32 result approximates."""
    double = copy.deepcopy(model).cpu().double()
    return _forward_backward(double, x.detach().cpu().double())


def assert_as_accurate(
    got: Result,
    truth: Result,
    peers: list[Result],
    names: dict[str, str] | None = None,
) -> None:
    """``got`` is as close to the float64 ``truth`` as other fp32 computations of it (``peers``) are.

    A gradient that sums many terms with cancellation (a first convolution's,
    or a bias batch norm removes again) differs between two correct fp32 runs
    by far more than its own rounding: plain relative tolerances fail there.
    Measured against float64 instead, a correct GPU result errs about as much
    as the CPU's; a wrong connection errs by the size of the gradient itself.
    """
    names = names or {}

    def check(what: str, value: torch.Tensor, exact: torch.Tensor, others: list[torch.Tensor]) -> None:
        assert torch.isfinite(value).all(), what
        exact = exact.double().cpu()
        error = float((value.double().cpu() - exact).norm())
        noise = max(float((o.double().cpu() - exact).norm()) for o in others)
        bound = 100 * noise + 1e-5 * float(exact.norm()) + 1e-12
        assert error <= bound, f"{what}: error {error:.2e} against float64, fp32 peers err {noise:.2e}"

    check("output", got[0], truth[0], [p[0] for p in peers])
    for key, value in got[1].items():
        ref = names.get(key, key)
        check(key, value, truth[1][ref], [p[1][ref] for p in peers])


@pytest.mark.parametrize(
    ("name", "overrides", "reference_factory", "shape"), CASES, ids=[f"{c[0]}{c[1]}" for c in CASES]
)
def test_gpu_model_matches_hand_written_reference_on_gpu(name, overrides, reference_factory, shape) -> None:
    torch.manual_seed(0)
    reference = reference_factory()
    perturb_batchnorm(reference, 1)
    model = aggspec.build(EXAMPLES / name, **overrides)
    pairs = dict(port_state_dict(model, reference.state_dict()))
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(2))
    truth = _truth(reference, x)
    reference_cpu = _forward_backward(copy.deepcopy(reference), x)
    reference_gpu = _forward_backward(reference.cuda(), x.cuda())
    ours = _forward_backward(model.cuda(), x.cuda())
    assert_as_accurate(ours, truth, [reference_cpu, reference_gpu], names=pairs)


def _sparsenet() -> nn.Module:
    return aggspec.build(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False, init_seed=3)


def test_gpu_outputs_and_gradients_equal_the_cpu_ones() -> None:
    # peers: ours on the CPU, and the hand-written SparseNet (same weights) on the GPU, whose
    # reductions round as ours do there (the CPU alone can be 100x closer to float64 on a bias)
    reference = densenet.CifarNet(40, 24, False, True)
    cpu = _sparsenet()
    pairs = dict(port_state_dict(cpu, reference.state_dict()))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    truth = _truth(cpu, x)
    gpu = copy.deepcopy(cpu).cuda()  # the ported weights
    on_cpu = _forward_backward(cpu, x)
    on_gpu = _forward_backward(gpu, x.cuda())
    y_ref, g_ref = _forward_backward(reference.cuda(), x.cuda())
    reference_gpu = (y_ref, {ours: g_ref[theirs] for ours, theirs in pairs.items() if theirs in g_ref})
    assert_as_accurate(on_gpu, truth, [on_cpu, reference_gpu])


def test_channels_last_computes_the_same_function() -> None:
    # Channels-last weight-gradient kernels (cuDNN's, and oneDNN's on the CPU) sum the first
    # convolution's products in an order that can lose percents of its cancelling gradient
    # (measured on the CPU: 2.5% channels-last against 0.02% contiguous, for these weights, in
    # the hand-written model exactly as in ours). So the peer is the hand-written SparseNet,
    # with the same weights, in the same layout on the same device.
    reference = densenet.CifarNet(40, 24, False, True)
    model = _sparsenet()
    pairs = port_state_dict(model, reference.state_dict())
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    truth = _truth(reference, x)
    layout = torch.channels_last
    model = model.cuda().to(memory_format=layout)  # type: ignore[call-overload]
    reference = reference.cuda().to(memory_format=layout)  # type: ignore[call-overload]
    x = x.cuda().contiguous(memory_format=layout)
    assert_as_accurate(
        _forward_backward(model, x), truth, [_forward_backward(reference, x)], names=dict(pairs)
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_autocast_stays_close_to_fp32(dtype: torch.dtype) -> None:
    model = _sparsenet().cuda().eval()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(7)).cuda()
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cuda", dtype=dtype):
            low = model(x).float()
    assert torch.isfinite(low).all()
    error = (low - reference).norm() / reference.norm()
    assert error < 3e-2, f"relative error {error:.2e} under {dtype}"


def test_torch_compile_matches_eager_on_gpu() -> None:
    eager = _sparsenet().cuda()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7)).cuda()
    truth = _truth(eager, x)
    plain = _forward_backward(eager, x)
    y_c, grads_c = _forward_backward(torch.compile(_sparsenet().cuda()), x)  # type: ignore[arg-type]
    # torch.compile's wrapper names parameters with an _orig_mod. prefix
    compiled = (y_c, {key.removeprefix("_orig_mod."): grad for key, grad in grads_c.items()})
    assert_as_accurate(compiled, truth, [plain, _forward_backward(_sparsenet(), x.cpu())])


def test_passes_are_exact_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # cuDNN's default weight-gradient kernels add in a varying order: ask for its deterministic ones
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    plain = aggspec.build(EXAMPLES / "resnet18.agg", init_seed=1).cuda()
    passed = aggspec.build(EXAMPLES / "resnet18.agg", init_seed=1, passes=["inplace_relu"]).cuda()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7)).cuda()
    y, grads = _forward_backward(plain, x)
    y_p, grads_p = _forward_backward(passed, x)
    torch.testing.assert_close(y_p, y, atol=0, rtol=0)
    for key, grad in grads.items():
        torch.testing.assert_close(grads_p[key], grad, atol=0, rtol=0, msg=key)


def test_memory_efficient_on_gpu_computes_the_same_in_less_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from aggspec.pytorch.memory import peak_bytes

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    spec = aggspec.load(EXAMPLES / "densenet_cifar.agg", depth=40)
    plain = aggspec.build(spec).cuda()
    efficient = aggspec.build(spec, memory_efficient=True).cuda()
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(7)).cuda()
    y, grads = _forward_backward(plain, x)
    y_e, grads_e = _forward_backward(efficient, x)
    assert_near(y_e, y, 1e-6, "output")
    for key, grad in grads.items():
        assert_near(grads_e[key], grad, 1e-6, key)
    peaks = [peak_bytes(lambda m=m: _forward_backward(m, x), "cuda") for m in (plain, efficient)]
    assert peaks[1] < 0.5 * peaks[0], peaks
