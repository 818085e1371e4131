"""train.log_with: experiment trackers through accelerate. A real MR run logs to an MLflow file store
(per-epoch validation metrics, the final test metrics raw and calibrated, the recipe), TensorBoard
stays the default, and a tracker that is unknown or not installed is refused before training."""

import json

import pytest
from accelerate.utils import LoggerType

from textmix.core.errors import RecipeError
from textmix.engine import recipe_from_dict, train
from textmix.engine.trackers import TRACKERS


def small_recipe(log_with: list[str]) -> dict:
    return {"data": {"name": "mr", "max_train_examples": 300}, "model": {"num_filters": 8},
            "train": {"epochs": 2, "batch_size": 25, "log_with": log_with},
            "eval": {"bootstrap_resamples": 0, "floor_draws": 0}}  # fmt: skip


def test_the_tracker_table_is_every_tracker_accelerate_supports():
    assert set(TRACKERS) == set(LoggerType.list()) - {"all"}


@pytest.mark.extras
def test_an_mr_run_logs_epochs_and_the_final_assessment_to_an_mlflow_store(real_data, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is absent: pip install -e '.[mlflow]'")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "sweep" / "seed=1"
    monkeypatch.chdir(tmp_path)
    metrics = train(recipe_from_dict(small_recipe(["mlflow"])), run)
    store = run / "mlflow.db"  # no MLFLOW_TRACKING_URI: the run's own store, nothing in the current directory
    assert store.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    (logged,) = client.search_runs([client.get_experiment_by_name("textmix").experiment_id])
    assert logged.info.run_name == "sweep/seed=1" and logged.data.params["method"] == "baseline"
    history = client.get_metric_history(logged.info.run_id, "val/accuracy")
    assert [point.value for point in history] == pytest.approx([e["val_accuracy"] for e in metrics["history"]])
    assert len(history) == 2 and history[0].step < history[1].step
    assert logged.data.metrics["test/ece"] == pytest.approx(metrics["test"]["ece"])
    chosen = metrics["calibrator_choice"]["chosen"]
    assert logged.data.metrics["calibrated/ece"] == pytest.approx(metrics["calibrated"][chosen]["test"]["ece"])
    assert not (run / "tensorboard").exists()  # only the trackers asked for


@pytest.mark.extras
def test_mlflow_logs_to_the_file_store_mlflow_tracking_uri_names(real_data, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is absent: pip install -e '.[mlflow]'")
    shared = tmp_path / "shared-store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this switch
    recipe = small_recipe(["mlflow"])
    recipe["train"]["epochs"] = 1
    train(recipe_from_dict(recipe), tmp_path / "run")
    assert not (tmp_path / "run" / "mlflow.db").exists() and (shared / "0").is_dir()  # a file store
    client = mlflow.MlflowClient(tracking_uri=shared.as_uri())
    (logged,) = client.search_runs([client.get_experiment_by_name("textmix").experiment_id])
    assert "test/accuracy" in logged.data.metrics


def test_tensorboard_stays_the_default_and_gets_the_final_metrics(real_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = small_recipe(["tensorboard"])
    del recipe["train"]["log_with"]
    recipe["train"]["epochs"] = 1
    metrics = train(recipe_from_dict(recipe), tmp_path / "run")
    folders = {events.parent for events in (tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*")}
    accumulators = [EventAccumulator(str(folder)) for folder in folders]  # the scalars', the recipe's hparams
    for accumulator in accumulators:
        accumulator.Reload()
    (accumulator,) = [a for a in accumulators if "val/accuracy" in a.Tags()["scalars"]]
    assert {"val/accuracy", "test/ece", "calibrated/ece"} <= set(accumulator.Tags()["scalars"])
    assert accumulator.Scalars("test/ece")[0].value == pytest.approx(metrics["test"]["ece"], rel=1e-6)


def test_no_tracker_writes_no_tracker_folder(real_data, tmp_path):
    recipe = small_recipe([])
    recipe["train"]["epochs"] = 1
    train(recipe_from_dict(recipe), tmp_path / "run")
    assert not (tmp_path / "run" / "tensorboard").exists() and not (tmp_path / "run" / "mlflow.db").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["accuracy"] > 0


def test_an_unknown_or_missing_tracker_is_one_line_before_training(tmp_path, monkeypatch):
    with pytest.raises(RecipeError, match=r"train.log_with=\['mlfow'\] is invalid: must be a list of tensorboard, "):
        recipe_from_dict(small_recipe(["mlfow"]))
    monkeypatch.setitem(TRACKERS, "aim", ("a_module_that_is_not_installed", "aim"))
    with pytest.raises(RecipeError, match=r"train.log_with: aim is not installed \(pip install aim\)"):
        train(recipe_from_dict(small_recipe(["aim"])), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.extras
def test_a_wandb_run_in_offline_mode_writes_under_the_run(real_data, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed: pip install wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    recipe = small_recipe(["wandb"])
    recipe["train"]["epochs"] = 1
    train(recipe_from_dict(recipe), tmp_path / "sweep" / "seed=1")
    (offline,) = (tmp_path / "sweep" / "seed=1" / "trackers" / "wandb").glob("offline-run-*")
    assert list(offline.glob("*.wandb")) and sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
