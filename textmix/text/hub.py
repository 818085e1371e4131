"""Share trained text models: a model card with calibration results, and the Hugging Face Hub upload.

The token comes from ``huggingface_hub`` (``hf auth login`` or ``HF_TOKEN``); it is never printed
or written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from textmix.core.assessment import NONE, Assessment
from textmix.core.atomic_files import readable_as_umask
from textmix.core.errors import HubError, RunDirError
from textmix.core.methods import get_method
from textmix.core.metric_table import shown_metrics
from textmix.core.noise_floor import FLOOR_MARK, below_floor
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import get_task
from textmix.text.card_license import CardLicense, card_license, require_license
from textmix.text.hf_loading import refuse_custom_code
from textmix.text.model_folder import saved_calibrator

logger = logging.getLogger(__name__)


def _mark(value: float, floor: dict | None) -> str:
    return FLOOR_MARK if floor and below_floor(value, floor) else ""


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def calibrator_text(calibrator) -> str:
    """One sentence for the card: which post-hoc calibrator ``predict_proba`` applies, and its state."""
    if calibrator is None:
        return "No post-hoc calibrator was fitted; `predict_proba` returns the model's softmax."
    state = ", ".join(
        f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}" for k, v in calibrator.state_dict().items()
    )
    return (
        f"Post-hoc calibrator: {calibrator.name} ({state}), fitted on the validation split; `predict_proba` applies it."
    )


def _data_facts(metrics: dict, dataset: str) -> tuple[dict, str | None, str]:
    """(the run's recorded data source, the Hub dataset id if it read one, a phrase for the card).
    A Hub id only where the run read that Hub dataset: the same name read from files with textmix's
    own split is another test set."""
    source = metrics.get("data", {}).get("source") or {"read": "unrecorded", "test": "unrecorded (textmix < 0.3)"}
    hub_dataset = source.get("hub_id") if source["read"] == "hub" else None
    # a local path says nothing to a reader of the card and tells them about the author's disk
    local = "a custom dataset" if source["read"] == "custom" else f"{dataset} (a local copy)"
    return source, hub_dataset, f"{hub_dataset} from the Hugging Face Hub" if hub_dataset else local


def base_model(model: dict) -> str | None:
    """The pretrained checkpoint a transformer was fine-tuned from, as a Hub id where known."""
    from textmix.text.models import MODELS
    from textmix.text.models.transformer import HUB_IDS

    if model["name"] not in MODELS or MODELS.get(model["name"]).featurizer != "hf":  # no pretrained encoder
        return None

    return HUB_IDS.get(model.get("pretrained"), model.get("pretrained"))


def _calibration_rows(assessment: Assessment, shown) -> list[str]:
    """The card's calibration table: each shown metric uncalibrated and after the chosen calibrator,
    marked where it lies within its noise floor, with both floors."""
    chosen = assessment.block(assessment.chosen) if assessment.chosen else None
    none, test = assessment.block(NONE), assessment.block(NONE).metrics
    scaled = chosen.metrics if chosen else None
    after = f"after {assessment.chosen}" if chosen else "after post-hoc calibration"
    rows = [f"| metric | test | {after} | noise floor, mean (95th percentile): test / {after} |", "|---|---|---|---|"]
    for m in shown:
        floors = [b.floor.get(m.name) if b else None for b in (none, chosen)]
        cells = [_fmt(test[m.name]) + _mark(test[m.name], floors[0]),
                 _fmt(scaled[m.name]) + _mark(scaled[m.name], floors[1]) if scaled else "—",
                 " / ".join(f"{_fmt(f['mean'])} ({_fmt(f['p95'])})" for f in floors if f)]  # fmt: skip
        rows.append(f"| {m.label} | {' | '.join(cells)} |")
    if none.floor:
        rows += ["", f"Noise floor: what a perfectly calibrated model with the same confidences would score on "
                 f"{test['n']} examples (consistency resampling; mean and 95th percentile). {FLOOR_MARK}: at or "
                 "below the 95th percentile, indistinguishable from perfect calibration at this size."]  # fmt: skip
    return rows


def _use_text(repo_id: str, stock: bool) -> str:
    """How to install and load the model, as a reader can paste it."""
    textmix_use = f"""```bash
pip install textmix
```

```python
import textmix

model = textmix.load_model("{repo_id}")
model.predict_proba(["an engaging and moving film"])   # calibrated probabilities
model.predict(["an engaging and moving film"], abstain_below=0.8)
```

or `textmix predict {repo_id} "an engaging and moving film" --abstain-below 0.8`."""
    if not stock:
        return textmix_use + "\n\nThis model needs textmix to run: it is not a transformers architecture."
    return f"""{textmix_use}

Without textmix (uncalibrated probabilities; the calibrator's JSON is `textmix_calibrator` in config.json):

```python
from transformers import pipeline

classify = pipeline("text-classification", model="{repo_id}", top_k=None)
classify(["an engaging and moving film"])
```"""


def has_stock_head(model: dict) -> bool:
    """A run's model section trains a transformer with the stock head, exported as a transformers
    classifier (every model section has ``pooling``; only transformers read it)."""
    return model.get("name") == "transformer" and model.get("pooling") == "pooler"


def model_card(run_dir: Path, repo_id: str, license: CardLicense | None = None):
    """A ``huggingface_hub.ModelCard`` with ``model-index`` results and the calibration story.

    Args:
        license: the card's license (:func:`~textmix.text.card_license.card_license`); None: the
            base model's where textmix knows it, else none stated (a run's own README; ``push``
            requires one).
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    run = RunDir(run_dir)
    metrics, recipe, config = run.read_metrics(), run.recipe.read_text(), run.read_recipe()
    dataset = config["data"]["name"]
    source, hub_dataset, data_text = _data_facts(metrics, dataset)
    method = metrics["method"]
    alpha = config["mixup"]["alpha"] if get_method(method).mixing is not None else None
    test = metrics["test"]
    shown = [m for m in shown_metrics() if m.name in test]  # the metrics of the default tables
    assessment = Assessment.from_json(metrics)
    results = [
        EvalResult(task_type="text-classification", dataset_type=hub_dataset or dataset, dataset_split="test",
                   dataset_name=f"{dataset} ({source['test']})", metric_type=key, metric_name=label,
                   metric_value=round(test[key], 6))
        for key, label in ((m.name, m.label) for m in shown)
    ]  # fmt: skip
    base = base_model(config["model"])
    license = license or card_license(None, None, None, base)
    stock = has_stock_head(config["model"])
    data = ModelCardData(
        library_name="textmix",
        # only a folder pipeline() loads: the Hub's widget and users read the tag as that promise
        pipeline_tag="text-classification" if stock else None,
        datasets=[hub_dataset] if hub_dataset else None,
        license=license.id if license else None,
        license_name=license.name if license else None,
        license_link=license.link if license else None,
        base_model=base,
        tags=["textmix", "mixup", "calibration", config["model"]["name"]],
        model_name=repo_id,
        eval_results=results,
        metrics=[m.name for m in shown],
    )
    calibrator = saved_calibrator(json.loads(run.model_info.read_text()), run.model_info)
    rows = _calibration_rows(assessment, shown)
    method_text = f"{method} (α = {alpha})" if alpha is not None else method
    calibration = calibrator_text(calibrator)
    body = f"""
# {repo_id}

A {config["model"]["name"]} text classifier trained on **{data_text}** with **{method_text}** by
[textmix](https://github.com/textmix/textmix): mixup on the embedding layer for better-calibrated
confidence (Thulasidasan et al., NeurIPS 2019). Model selected at the best validation accuracy
(epoch {metrics["best_epoch"]}); {test["n"]} test examples: {source["test"]}.

## Calibration on the test split

{chr(10).join(rows)}

{calibration}

![reliability diagram](reliability.png)

## Use

{_use_text(repo_id, stock)}

## Training recipe

```yaml
{recipe.strip()}
```
"""
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body)


def prepare_upload(run_dir: str | Path, repo_id: str, out_dir: str | Path, license: CardLicense | None = None) -> Path:
    """Write exactly the folder that would be uploaded: model files, card, reliability diagram,
    every file readable as the umask allows (safetensors writes weights 0600)."""
    run, out_dir = RunDir(run_dir), Path(out_dir)
    for required in (run.metrics, run.recipe, run.model_info, run.weights):
        if not required.is_file():
            raise RunDirError(f"{required} is missing: push needs a finished textmix run")
    task = run.read_recipe().get("task", "text")
    if "hub" not in get_task(task).sections:  # tasks that share models declare a hub section
        raise HubError(f"{run} is a {task} run; Hub sharing and predict support text models")
    refuse_custom_code(run.model)  # never publish a folder that points at code
    if out_dir.is_file():
        raise HubError(f"--dry-run {out_dir} is a file; give a new or empty folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise HubError(f"{out_dir} is not empty; choose an empty or new folder for --dry-run")
    items = [item for item in sorted(run.model.iterdir()) if item.name != "README.md"]
    items += [run.file(name) for name in (RunDir.RELIABILITY, RunDir.METRICS) if run.file(name).exists()]
    for item in items:  # only regular files inside the run directory: a link could point at ~/.ssh
        if item.is_symlink() or not item.is_file():
            target = f" (to {os.readlink(item)})" if item.is_symlink() else ""
            raise RunDirError(f"{item} is not a regular file{target}; textmix uploads only the run's own files: "
                              "replace it with the file or remove it")  # fmt: skip
    license = require_license(license or card_license(None, None, None, base_model(run.read_recipe()["model"])),
                              f"push {run}")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in items:
        shutil.copy2(item, out_dir / item.name)
    model = run.read_recipe()["model"]
    if has_stock_head(model):
        export_transformers(run.model, out_dir)
    elif base_model(model) is not None:  # a transformer without the stock head: said here and on the card
        logger.warning("notice: %s uses pooling: %s, which no transformers class has: the upload loads with textmix "
                       "only (pooling: pooler trains a model pipeline() loads)", run, model.get("pooling"))  # fmt: skip
    model_card(run.path, repo_id, license).save(out_dir / "README.md")
    readable_as_umask(out_dir)
    return out_dir


def export_transformers(model_folder: Path, out_dir: Path) -> None:
    """Replace ``config.json`` and ``model.safetensors`` in ``out_dir`` by the stock
    ``...ForSequenceClassification`` of the model in ``model_folder`` (``id2label`` from its label
    names, the calibrator's JSON as ``textmix_calibrator``): ``AutoModelForSequenceClassification``
    and ``pipeline()`` load it without textmix; ``textmix.load_model`` still reads the folder."""
    from textmix.text.models import load_pretrained
    from textmix.text.models.transformer import TransformerClassifier

    info = json.loads((model_folder / RunDir.MODEL_INFO).read_text())
    model = load_pretrained(TransformerClassifier, model_folder).eval()
    try:
        stock = model.to_transformers(info["label_names"])
    except ValueError as error:
        raise HubError(f"{model_folder} cannot be exported for transformers: {error}") from None
    if "calibrator" in info:
        stock.config.textmix_calibrator = info["calibrator"]
    (out_dir / "config.json").unlink()
    stock.save_pretrained(out_dir)


def push_run(
    run_dir: str | Path,
    repo_id: str,
    private: bool = False,
    dry_run: str | Path | None = None,
    license: str | None = None,
    license_name: str | None = None,
    license_link: str | None = None,
) -> str:
    """Upload a run's best model to ``repo_id`` (or only write the folder with ``dry_run``).

    ``license`` (a Hub license id, or ``other`` with ``license_name`` and ``license_link``) is the
    card's; without it the base model's where textmix knows it, else the push is refused.

    The token comes from ``huggingface_hub`` (``hf auth login`` or ``HF_TOKEN``); it is never
    printed or written. Returns the repository URL, or the dry-run folder.
    """
    from huggingface_hub import HfApi, get_token

    if "/" not in repo_id:
        raise HubError(f"--repo-id must look like user/name, got {repo_id!r}")
    stated = card_license(license, license_name, license_link, None)
    if dry_run is not None:
        return str(prepare_upload(run_dir, repo_id, dry_run, stated))
    if get_token() is None:
        raise HubError("no Hugging Face token: run `hf auth login` or set HF_TOKEN, then push again")
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_upload(run_dir, repo_id, Path(tmp) / "upload", stated)
        api = HfApi()
        try:
            url = api.create_repo(repo_id=repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="Upload textmix model")
        except Exception as error:  # offline, refused token, no permission
            raise HubError(f"pushing to {repo_id} failed: {type(error).__name__}: {error}") from None
    return str(url)


__all__ = ["model_card", "prepare_upload", "push_run"]
