"""The training configuration resolves its precision where it is made, so a model's record says
what actually ran."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workbench.ml.config import TrainConfig, native_bf16


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_bf16_arithmetic() -> None:
    assert TrainConfig().precision == ("bf16-mixed" if native_bf16() else "32-true")
    assert TrainConfig().channels_last


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_an_explicit_precision_is_kept(precision: str) -> None:
    assert TrainConfig(precision=precision).precision == precision


def test_an_unknown_precision_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="auto or one of 32-true, bf16-mixed, got 'fp8'"):
        TrainConfig(precision="fp8")


def test_a_misspelt_architecture_is_answered_with_the_likely_one() -> None:
    with pytest.raises(
        ValidationError, match=r"unknown architecture 'resnet81' \(did you mean 'resnet18'\?\)"
    ):
        TrainConfig(arch="resnet81")
