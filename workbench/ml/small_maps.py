"""Weight gradients of convolutions on small feature maps as one matrix product, on the CPU.

oneDNN computes the weight gradient of a convolution whose output has only a few positions (a
ResNet's last stages on 16-64 px images) with a gemm-based kernel that runs at ~3 GFLOP/s on an
AVX2 CPU: 82 ms for a 512->512 3x3 convolution on 1x1 maps at batch 64, 124 ms on 2x2 maps,
where unfolding the input and one matrix multiply take 9 and 21 ms. Those few layers were most of
a training step at 32 px (backward 420 ms against a forward of 73). On larger maps oneDNN's own
kernels win, so only outputs of at most ``MAX_POSITIONS`` positions take this path; the input
gradient, the forward pass, evaluation and export stay oneDNN's.

Under bf16 autocast the path is taken too, with the weight gradient summed in fp32: oneDNN's bf16
weight gradient of these layers sometimes came back non-finite (on a Xeon with AMX-BF16, with AMX
on or off: ``layer4.0.conv1`` of a ResNet18 at 16 px, in 2 of 8 seeded runs), and one bad step
turned the whole model to NaN.
"""

from __future__ import annotations

from typing import Any, cast

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
        if ctx.needs_input_grad[1]:  # summed in fp32 whatever the inputs' precision
            columns = F.unfold(x.float(), weight.shape[2:], dilation=dilation, padding=padding, stride=stride)
            out = grad_out.float().reshape(grad_out.shape[0], grad_out.shape[1], -1)  # N, O, positions
            grad_weight = torch.einsum("nop,nkp->ok", out, columns).view_as(weight).to(weight.dtype)
        return grad_x, grad_weight, None, None, None


class SmallMapConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` that trains small output maps through ``_GemmWeightGradConv``.

    Same parameters and state dict as the convolution it replaces (``use_for_small_maps``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled() and self._small_map_on_cpu(x)):
            return super().forward(x)
        if torch.is_autocast_enabled("cpu"):  # bf16 (see _small_map_on_cpu), as autocast would cast
            with torch.autocast("cpu", enabled=False):
                weight = self.weight.to(torch.bfloat16)
                return _GemmWeightGradConv.apply(
                    x.to(torch.bfloat16), weight, self.stride, self.padding, self.dilation
                )
        return _GemmWeightGradConv.apply(x, self.weight, self.stride, self.padding, self.dilation)

    def _small_map_on_cpu(self, x: torch.Tensor) -> bool:
        """An fp32 input, or bf16 autocast; on the CPU; an output of few positions."""
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16):
            return False
        if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") != torch.bfloat16:
            return False
        positions = 1
        padding = cast(tuple[int, ...], self.padding)  # numeric: use_for_small_maps swaps no other
        for size, k, s, p, d in zip(
            x.shape[2:], self.kernel_size, self.stride, padding, self.dilation, strict=True
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
