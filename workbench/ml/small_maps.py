"""Weight gradients of convolutions on small feature maps as one matrix product, on the CPU.

oneDNN computes the weight gradient of a convolution whose output has only a few positions (a
ResNet's last stages on 16-64 px images) with a gemm-based kernel that runs at ~3 GFLOP/s on an
AVX2 CPU: 82 ms for a 512->512 3x3 convolution on 1x1 maps at batch 64, 124 ms on 2x2 maps,
where unfolding the input and one matrix multiply take 9 and 21 ms. Those few layers were most of
a training step at 32 px (backward 420 ms against a forward of 73). On larger maps oneDNN's own
kernels win, so only outputs of at most ``MAX_POSITIONS`` positions take this path; the input
gradient, the forward pass, evaluation and export stay oneDNN's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MAX_POSITIONS = 4  # output positions (height x width); measured: wins up to 2x2, a tie at 4x4


class _GemmWeightGradConv(torch.autograd.Function):
    """``conv2d`` (no bias, groups 1) whose weight gradient is unfold + one matmul."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: Any, padding: Any, dilation: Any
    ) -> Any:
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride, padding, dilation
        return F.conv2d(x, weight, None, stride, padding, dilation)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> Any:
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, stride, padding, dilation, False, [0, 0], 1, [True, False, False]
            )[0]
        if ctx.needs_input_grad[1]:
            columns = F.unfold(x, weight.shape[2:], dilation=dilation, padding=padding, stride=stride)
            out = grad_out.reshape(grad_out.shape[0], grad_out.shape[1], -1)  # N, O, positions
            grad_weight = torch.einsum("nop,nkp->ok", out, columns).view_as(weight)
        return grad_x, grad_weight, None, None, None


class SmallMapConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` that trains small output maps through ``_GemmWeightGradConv``.

    Same parameters and state dict as the convolution it replaces (``use_for_small_maps``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled() and self._small_fp32_cpu(x):
            return _GemmWeightGradConv.apply(x, self.weight, self.stride, self.padding, self.dilation)
        return super().forward(x)

    def _small_fp32_cpu(self, x: torch.Tensor) -> bool:
        if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu"):
            return False
        positions = 1
        for size, k, s, p, d in zip(
            x.shape[2:], self.kernel_size, self.stride, self.padding, self.dilation, strict=True
        ):
            positions *= (size + 2 * p - d * (k - 1) - 1) // s + 1
        return positions <= MAX_POSITIONS


def use_for_small_maps(model: nn.Module) -> nn.Module:
    """Swap every plain convolution of ``model`` (groups 1, no bias, zero padding) in place."""
    for module in model.modules():
        if (
            type(module) is nn.Conv2d
            and module.groups == 1
            and module.bias is None
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
        ):
            module.__class__ = SmallMapConv2d
    return model
