"""Shared fixtures: the real data folder (../shared/data or $TEXTMIX_DATA_DIR), skipped when absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# test plugins (the toy task) import as top-level modules, as an installed plugin package would
sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))
# what each shared data folder must hold to count as present
DATA_FILES = {
    "mr": "rt-polarity.pos",
    "trec": "TREC_10.label",
    "imdb": "test.jsonl.gz",
    "glove": "glove.6B.50d.mr-trec-imdb.txt.gz",
    "cifar10": "cifar10-jpg.tar.gz",
    "mnist5k": "mnist_5k.csv.gz",
}


def data_dir() -> Path | None:
    for candidate in (os.environ.get("TEXTMIX_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


@pytest.fixture
def real_data(request, monkeypatch) -> Path:
    """The shared data folder, also exported as $TEXTMIX_DATA_DIR. The test needs ``mr/`` and the
    folders its ``@pytest.mark.data(...)`` names; it is skipped, naming them, when one is missing."""
    marker = request.node.get_closest_marker("data")
    needed = ["mr", *(marker.args if marker else ())]
    folder = data_dir()
    missing = [n for n in needed if folder is None or not (folder / n / DATA_FILES[n]).is_file()]
    if missing:
        where = folder or "TEXTMIX_DATA_DIR (default ../shared/data)"
        pytest.skip(f"real data not found: {', '.join(f'{n}/' for n in missing)} missing under {where}")
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Vector caches go to one session-wide temporary folder, never the user's ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "textmix-cache"
    monkeypatch.setenv("TEXTMIX_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


QUICK_EVAL = {"bootstrap_resamples": 0, "floor_draws": 0}  # the predictions only: no intervals, no floors


def _trained_predictions(tmp_path_factory, dataset: str, recipe: dict) -> dict:
    """Train ``recipe`` on the real ``dataset`` once per session; its predictions.npz as arrays, and
    the run directory as ``run`` (copy it before changing anything in it)."""
    import numpy as np

    folder = data_dir()
    if folder is None or not (folder / dataset / DATA_FILES[dataset]).is_file():
        pytest.skip(f"real data not found: {dataset}/ missing under TEXTMIX_DATA_DIR (default ../shared/data)")
    from textmix.engine import recipe_from_dict, train

    run = tmp_path_factory.mktemp(f"{dataset}_predictions") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTMIX_DATA_DIR", str(folder))
        patch.setenv("TEXTMIX_CACHE", str(tmp_path_factory.getbasetemp() / "textmix-cache"))
        train(recipe_from_dict(recipe), run)
    with np.load(run / "predictions.npz") as loaded:
        return {key: loaded[key] for key in loaded} | {"run": run}


@pytest.fixture(scope="session")
def mr_predictions(tmp_path_factory) -> dict:
    """Real predictions: a small Kim CNN trained on MR (3,000 reviews, 2 epochs; accuracy about 0.7),
    its predictions.npz (val_logits, val_probs, val_labels, test_logits, test_probs, test_labels:
    1,066 reviews each)."""
    recipe = {"method": "mixup", "data": {"name": "mr", "max_train_examples": 3000}, "model": {"num_filters": 16},
              "train": {"epochs": 2, "batch_size": 50}, "eval": QUICK_EVAL}  # fmt: skip
    return _trained_predictions(tmp_path_factory, "mr", recipe)


@pytest.fixture(scope="session")
def trec_predictions(tmp_path_factory) -> dict:
    """Real predictions of six classes: a small Kim CNN trained on TREC (2,000 questions, 2 epochs);
    validation 545 questions, test 500."""
    recipe = {"method": "mixup", "data": {"name": "trec", "max_train_examples": 2000}, "model": {"num_filters": 16},
              "train": {"epochs": 2, "batch_size": 50}, "eval": QUICK_EVAL}  # fmt: skip
    return _trained_predictions(tmp_path_factory, "trec", recipe)


@pytest.fixture(scope="session")
def small_mr_run(tmp_path_factory):
    """A small finished MR run (Kim CNN, 300 reviews, one epoch, conformal scores at α = 0.1) for
    tests that read or damage a run directory: copy it before changing anything in it."""
    folder = data_dir()
    if folder is None or not (folder / "mr" / DATA_FILES["mr"]).is_file():
        pytest.skip("real data not found: mr/ missing under TEXTMIX_DATA_DIR (default ../shared/data)")
    from textmix.engine import recipe_from_dict, train

    recipe = {"data": {"name": "mr", "max_train_examples": 300}, "model": {"num_filters": 8},
              "train": {"epochs": 1, "batch_size": 25},
              "eval": {"bootstrap_resamples": 0, "conformal": {"alpha": [0.1]}}}  # fmt: skip
    run = tmp_path_factory.mktemp("small_mr") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTMIX_DATA_DIR", str(folder))
        train(recipe_from_dict(recipe), run)
    return run


@pytest.fixture(scope="session")
def small_minilm_run(tmp_path_factory):
    """A small finished MR run of recipes/mr/minilm_baseline.yaml (MiniLM with the stock head, 160
    reviews, one epoch, 32 tokens): copy it before changing anything in it."""
    folder = data_dir()
    if folder is None or not (folder / "mr" / DATA_FILES["mr"]).is_file():
        pytest.skip("real data not found: mr/ missing under TEXTMIX_DATA_DIR (default ../shared/data)")
    from textmix.engine import train
    from textmix.engine.recipe import load_recipe

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTMIX_DATA_DIR", str(folder))
        recipe = load_recipe(
            REPO / "recipes" / "mr" / "minilm_baseline.yaml",
            ["data.max_train_examples=160", "data.max_length=32", "train.epochs=1", "train.batch_size=16",
             "eval.bootstrap_resamples=0", "eval.mc_dropout_samples=0"],
        )  # fmt: skip
        run = tmp_path_factory.mktemp("small_minilm") / "run"
        train(recipe, run)
    return run
