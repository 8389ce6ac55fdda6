"""Compiled models on a GPU: the same function as on the CPU and as hand-written PyTorch.

These run where PyTorch sees a CUDA device (``pytest -m cuda`` on a GPU
machine) and are skipped elsewhere. TF32 is switched off for the fp32
comparisons: it rounds matrix inputs to 10 bits, which would hide a wrong
connection inside rounding noise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

import aggspec
from aggspec import port_state_dict

from ..conftest import EXAMPLES
from ..references import densenet, others, resnet
from .test_equivalence import perturb_batchnorm

pytestmark = pytest.mark.cuda

CASES = [
    ("resnet18.agg", {}, resnet.resnet18, (3, 64, 64)),
    (
        "densenet_cifar.agg",
        {"depth": 52, "bottleneck": True},
        lambda: densenet.CifarNet(52, 12, True, False),
        (3, 32, 32),
    ),
    (
        "sparsenet_cifar.agg",
        {"depth": 52, "classes": 100},
        lambda: densenet.CifarNet(52, 24, True, True, 100),
        (3, 32, 32),
    ),
    ("preact_resnet.agg", {"depth": 20}, lambda: resnet.PreActResNet(20), (3, 32, 32)),
    (
        "randwire.agg",
        {"nodes": 10, "channels": 16, "classes": 10, "seed": 4},
        lambda: others.RandWire(10, 16, 10, 4),
        (3, 64, 64),
    ),
]


@pytest.fixture(autouse=True)
def exact_fp32() -> Iterator[None]:
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def assert_near(actual: torch.Tensor, expected: torch.Tensor, tolerance: float, what: str) -> None:
    """``|actual - expected| / |expected| <= tolerance`` over the whole tensor.

    Elementwise tolerances fail on sums of many terms that cuDNN adds in
    another order (a first layer's weight gradient sums over the batch and
    every pixel), where a few elements near zero carry most of the rounding.
    """
    assert torch.isfinite(actual).all(), what
    error = float((actual.double() - expected.double()).norm() / expected.double().norm().clamp_min(1e-30))
    assert error <= tolerance, f"{what}: relative error {error:.2e} > {tolerance:.0e}"


def _forward_backward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    y = model(x)
    y.square().mean().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return y.detach(), grads


@pytest.mark.parametrize(
    ("name", "overrides", "reference_factory", "shape"), CASES, ids=[f"{c[0]}{c[1]}" for c in CASES]
)
def test_gpu_model_matches_hand_written_reference_on_gpu(name, overrides, reference_factory, shape) -> None:
    torch.manual_seed(0)
    reference = reference_factory()
    perturb_batchnorm(reference, 1)
    model = aggspec.build(EXAMPLES / name, **overrides)
    pairs = port_state_dict(model, reference.state_dict())
    model, reference = model.cuda(), reference.cuda()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(2)).cuda()
    y_ours, g_ours = _forward_backward(model, x)
    y_ref, g_ref = _forward_backward(reference, x)
    torch.testing.assert_close(y_ours, y_ref, atol=1e-4, rtol=1e-4)
    for key, ref_key in pairs:
        if key in g_ours:
            assert_near(g_ours[key], g_ref[ref_key], 1e-5, key)


def _sparsenet() -> nn.Module:
    return aggspec.build(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False, init_seed=3)


def test_gpu_outputs_and_gradients_equal_the_cpu_ones() -> None:
    cpu = _sparsenet()
    gpu = _sparsenet().cuda()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    y_cpu, g_cpu = _forward_backward(cpu, x)
    y_gpu, g_gpu = _forward_backward(gpu, x.cuda())
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, atol=1e-4, rtol=1e-4)
    for key, grad in g_cpu.items():
        assert_near(g_gpu[key].cpu(), grad, 1e-5, key)


def test_channels_last_computes_the_same_function() -> None:
    model = _sparsenet().cuda()
    x = torch.randn(8, 3, 32, 32, device="cuda")
    y, grads = _forward_backward(model, x)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    y_cl, grads_cl = _forward_backward(model, x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y_cl, y, atol=1e-4, rtol=1e-4)
    for key, grad in grads.items():
        assert_near(grads_cl[key], grad, 1e-5, key)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_autocast_stays_close_to_fp32(dtype: torch.dtype) -> None:
    model = _sparsenet().cuda().eval()
    x = torch.randn(8, 3, 32, 32, device="cuda")
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cuda", dtype=dtype):
            low = model(x).float()
    assert torch.isfinite(low).all()
    error = (low - reference).norm() / reference.norm()
    assert error < 3e-2, f"relative error {error:.2e} under {dtype}"


def test_torch_compile_matches_eager_on_gpu() -> None:
    eager = _sparsenet().cuda()
    compiled_model = _sparsenet().cuda()
    compiled = torch.compile(compiled_model)
    x = torch.randn(4, 3, 32, 32, device="cuda")
    y, grads = _forward_backward(eager, x)
    y_c, grads_c = _forward_backward(compiled, x)  # type: ignore[arg-type]
    torch.testing.assert_close(y_c, y, atol=1e-4, rtol=1e-4)
    for key, grad in grads.items():
        # torch.compile's wrapper names parameters with an _orig_mod. prefix
        assert_near(grads_c[f"_orig_mod.{key}"], grad, 1e-5, key)


def test_passes_are_exact_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # cuDNN's default weight-gradient kernels add in a varying order: ask for its deterministic ones
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    plain = aggspec.build(EXAMPLES / "resnet18.agg", init_seed=1).cuda()
    passed = aggspec.build(EXAMPLES / "resnet18.agg", init_seed=1, passes=["inplace_relu"]).cuda()
    x = torch.randn(2, 3, 64, 64, device="cuda")
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
    x = torch.randn(16, 3, 32, 32, device="cuda")
    y, grads = _forward_backward(plain, x)
    y_e, grads_e = _forward_backward(efficient, x)
    assert_near(y_e, y, 1e-6, "output")
    for key, grad in grads.items():
        assert_near(grads_e[key], grad, 1e-6, key)
    peaks = [peak_bytes(lambda m=m: _forward_backward(m, x), "cuda") for m in (plain, efficient)]
    assert peaks[1] < 0.5 * peaks[0], peaks
