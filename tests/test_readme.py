"""README.md stays true: generated tables are current, examples run, CI runs the test command."""

import re
from pathlib import Path

import pytest

from textmix.docs import render

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def fenced_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*```\w*\n(.*?)```", README, re.S)
    assert match, f"README has no fenced block after {marker}"
    return match.group(1)


def test_recipe_key_table_is_current():
    assert render(README) == README, "run: python -m textmix.docs README.md"


def test_ci_runs_the_readme_test_command():
    command = fenced_after("<!-- test-command -->").strip()
    assert "pytest" in command and "constraints.txt" in command
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # .ci/run extracts and runs exactly that block


def test_main_command_trains_the_mr_mixup_recipe():
    command = fenced_after("<!-- main-command -->")
    assert "textmix train recipes/mr/kim_cnn_mixup.yaml" in command
    assert (REPO / "recipes" / "mr" / "kim_cnn_mixup.yaml").is_file()


def test_custom_model_example_runs_and_trains_with_the_engine(real_data, tmp_path, capsys):
    namespace = {}
    exec(compile(fenced_after("<!-- example: custom-model -->"), "README-example", "exec"), namespace)
    assert "'ece'" in capsys.readouterr().out

    from textmix.engine import train
    from textmix.models import MODELS
    from textmix.recipe import recipe_from_dict

    try:
        recipe = recipe_from_dict(
            {
                "method": "mixup",
                "model": {"name": "bag_of_embeddings"},
                "data": {"name": "mr", "max_train_examples": 500},
                "optim": {"name": "adamw", "lr": 0.01},
                "train": {"epochs": 2, "batch_size": 50},
            }
        )
        metrics = train(recipe, tmp_path / "bag")
    finally:
        MODELS.pop("bag_of_embeddings", None)
    assert metrics["test"]["n"] == 1066 and metrics["test"]["accuracy"] > 0.5
    assert (tmp_path / "bag" / "model" / "model.safetensors").is_file()


@pytest.mark.parametrize("path", sorted((REPO / "recipes").rglob("*.yaml")), ids=lambda p: p.name)
def test_recipes_parse_as_yaml(path):
    import yaml

    assert isinstance(yaml.safe_load(path.read_text()), dict)
