"""``textmix evaluate RUN_DIR``: reload a run's best model and recompute every metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textmix.data.features import load_featurizer
from textmix.engine import make_accelerator
from textmix.evaluate import RunData, evaluate_model, write_outputs
from textmix.io import atomic_write_json
from textmix.models import MODELS
from textmix.recipe import RecipeError, load_recipe
from textmix.task import encode_split, label_names, load_splits, make_loader, model_inputs


def evaluate_run(run_dir: Path, overrides: list[str] = ()) -> dict:
    """Evaluate ``run_dir/model`` on the recipe's validation and test splits.

    Only ``eval.*`` keys may be overridden. Writes ``evaluation.json``, ``eval_predictions.npz``
    and ``eval_reliability.png`` (never touches the training outputs).
    """
    if not (run_dir / "recipe.yaml").is_file() or not (run_dir / "model").is_dir():
        raise FileNotFoundError(f"{run_dir} is not a finished textmix run (needs recipe.yaml and model/)")
    for assignment in overrides:
        if not assignment.startswith("eval."):
            raise RecipeError(f"textmix evaluate only overrides eval.* keys, got {assignment!r}")
    recipe = load_recipe(run_dir / "recipe.yaml", overrides)
    if recipe.task != "text":
        raise RecipeError(f"textmix evaluate re-evaluates text runs; {run_dir} is a {recipe.task} run")
    entry = MODELS[recipe.model.name]
    if entry.cls is None:
        raise ValueError(f"model {recipe.model.name!r} has no class to reload it with")
    accelerator = make_accelerator()
    featurizer = load_featurizer(run_dir / "model")
    model = entry.cls.from_pretrained(run_dir / "model")
    from textmix.ood import ood_loaders

    splits = load_splits(recipe.data)
    encoded = {name: encode_split(splits[name], featurizer) for name in ("validation", "test")}
    loaders = [
        make_loader(encoded[name], featurizer, recipe.train.eval_batch_size, False, 0)
        for name in ("validation", "test")
    ]
    model, val_loader, test_loader = accelerator.prepare(model, *loaders)
    data = RunData(
        model=model,
        featurizer=featurizer,
        facts={},
        label_names=label_names(splits),
        loaders={"validation": val_loader, "test": test_loader},
        labels={name: np.asarray(encoded[name]["label"]) for name in encoded},
        inputs_fn=model_inputs,
        ood_loaders=lambda recipe, model, test_loader: ood_loaders(recipe, featurizer, model, test_loader),
    )
    report, val_logits, test_logits, _ = evaluate_model(recipe, accelerator, model, data)
    if accelerator.is_main_process:
        write_outputs(recipe, run_dir, val_logits, test_logits, data.labels, prefix="eval_")
        atomic_write_json(run_dir / "evaluation.json", report)
    return report
