"""The Augment tab's controls come from the op registry and give back the recipe they show."""

from __future__ import annotations

import pytest

from workbench.augment import OPS, Recipe
from workbench.widgets.recipe import RecipeEditor

RECIPE = {"hflip": 0.5, "rotate": {"degrees": 30, "border": "reflect"}, "cutout": {"count": 3, "p": 1.0}}


def test_every_op_of_the_registry_has_a_toggle_and_a_control_per_parameter() -> None:
    editor = RecipeEditor(RECIPE)
    assert list(editor.ops) == list(OPS)
    for name, controls in editor.ops.items():
        assert set(controls.params) == {p.name for p in OPS[name].params}


def test_the_controls_give_back_the_recipe_they_were_given() -> None:
    editor = RecipeEditor(RECIPE)
    assert Recipe.parse(editor.recipe()).to_dict() == Recipe.parse(RECIPE).to_dict()


def test_a_toggle_and_a_slider_change_the_recipe_and_tell_the_preview() -> None:
    editor = RecipeEditor(RECIPE)
    changes: list[int] = []
    editor.on_change(lambda: changes.append(1))
    editor.ops["blur"].on.value = True
    editor.ops["rotate"].params["degrees"].value = 90
    editor.ops["hflip"].on.value = False
    recipe = editor.recipe()
    assert "blur" in recipe and "hflip" not in recipe and recipe["rotate"]["degrees"] == 90
    assert len(changes) == 3
    assert editor.ops["hflip"].settings.layout.display == "none"  # an op off hides its settings


def test_a_slider_cannot_leave_the_registry_s_range() -> None:
    editor = RecipeEditor(RECIPE)
    editor.ops["rotate"].params["degrees"].value = 10_000  # a slider clamps to its max
    assert editor.recipe()["rotate"]["degrees"] == OPS["rotate"].param("degrees").high


def test_nothing_switched_on_is_refused_in_words() -> None:
    editor = RecipeEditor(RECIPE)
    for controls in editor.ops.values():
        controls.on.value = False
    with pytest.raises(Exception, match="the recipe has no ops"):
        Recipe.parse(editor.recipe())
