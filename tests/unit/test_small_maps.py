"""Small-map convolutions: the same outputs and gradients as nn.Conv2d, through the gemm path."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

from workbench.ml.small_maps import SmallMapConv2d, use_for_small_maps


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "size"),
    [(3, 1, 1, 1, 1), (3, 1, 1, 1, 2), (3, 2, 1, 1, 4), (1, 2, 0, 1, 3), (3, 1, 2, 2, 2)],
)
def test_outputs_and_gradients_match_conv2d(
    kernel: int, stride: int, padding: int, dilation: int, size: int
) -> None:
    torch.manual_seed(0)
    plain = nn.Conv2d(16, 24, kernel, stride, padding, dilation, bias=False)
    small = use_for_small_maps(copy.deepcopy(plain))
    x = torch.randn(5, 16, size, size, requires_grad=True)
    x_small = x.detach().clone().requires_grad_()
    expected, actual = plain(x), small(x_small)
    assert type(actual.grad_fn).__name__ == "_GemmWeightGradConvBackward"  # the path under test
    torch.testing.assert_close(actual, expected)
    grad = torch.randn_like(expected)
    expected.backward(grad)
    actual.backward(grad)
    torch.testing.assert_close(x_small.grad, x.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(small.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)


def test_large_maps_evaluation_and_no_grad_keep_the_plain_convolution() -> None:
    conv = use_for_small_maps(nn.Conv2d(8, 8, 3, padding=1, bias=False))
    assert type(conv(torch.randn(2, 8, 4, 4)).grad_fn).__name__ == "ConvolutionBackward0"  # 16 positions
    small = torch.randn(2, 8, 1, 1)
    with torch.no_grad():
        assert conv(small).grad_fn is None
    conv.eval()
    assert type(conv(small).grad_fn).__name__ == "ConvolutionBackward0"


def test_a_resnet_swaps_its_plain_convolutions_and_trains_to_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = torchvision.models.resnet18(num_classes=10)
    small = use_for_small_maps(copy.deepcopy(plain))
    assert sum(isinstance(m, SmallMapConv2d) for m in small.modules()) == 20  # every conv of resnet18
    assert small.state_dict().keys() == plain.state_dict().keys()
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    for model in (plain, small):
        nn.functional.cross_entropy(model(x), y).backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), small.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_grouped_and_biased_convolutions_are_left_alone() -> None:
    model = nn.Sequential(nn.Conv2d(8, 8, 3, groups=8, bias=False), nn.Conv2d(8, 8, 1, bias=True))
    use_for_small_maps(model)
    assert [type(m) for m in model] == [nn.Conv2d, nn.Conv2d]


def test_under_bf16_autocast_the_weight_gradient_is_summed_in_fp32_and_stays_finite() -> None:
    """oneDNN's bf16 weight gradient of these layers sometimes came back non-finite (see the
    module); under autocast the path is taken too, and its gradient is close to fp32's."""
    torch.manual_seed(0)
    plain = nn.Conv2d(64, 32, 3, 2, 1, bias=False)
    small = use_for_small_maps(copy.deepcopy(plain))
    x = torch.randn(8, 64, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = small(x)
    assert out.dtype == torch.bfloat16 and type(out.grad_fn).__name__ == "_GemmWeightGradConvBackward"
    grad = torch.randn(out.shape)
    out.float().backward(grad)
    plain(x).backward(grad)  # fp32 throughout: the reference
    assert small.weight.grad is not None and small.weight.grad.dtype == torch.float32
    assert torch.isfinite(small.weight.grad).all()
    torch.testing.assert_close(small.weight.grad, plain.weight.grad, rtol=0.05, atol=0.05)
