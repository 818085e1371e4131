"""Share and use trained models: calibrated prediction, model cards, Hugging Face Hub upload.

    model = textmix.load_model("runs/mr_kim_cnn_mixup")        # a run dir, a model folder or a Hub id
    model.predict_proba(["a gripping, funny film"])             # (N, K), temperature applied

Loading reads JSON, tokenizer text files and safetensors only: nothing from a downloaded
repository is unpickled.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from textmix.data.features import collate, load_featurizer
from textmix.io import TEXTMIX_FILE
from textmix.models import MODELS

WEIGHTS_FILE = "model.safetensors"
# Files a textmix model folder may hold; a Hub download fetches only these (no pickles).
SAFE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md", "*.png"]


class HubError(RuntimeError):
    """Uploading or downloading failed; the message says why and what to do."""


def _model_folder(source: str | Path) -> Path:
    """A run directory's ``model/``, a local model folder, or a Hub snapshot of safe files."""
    path = Path(source).expanduser()
    if (path / "model" / TEXTMIX_FILE).is_file():
        return path / "model"
    if (path / TEXTMIX_FILE).is_file():
        return path
    if path.exists():
        raise FileNotFoundError(f"{path} is neither a textmix run directory nor a model folder (no {TEXTMIX_FILE})")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), allow_patterns=SAFE_PATTERNS))
    except Exception as error:
        raise HubError(
            f"{source!r} is not a local folder and could not be downloaded from the Hugging Face Hub "
            f"({type(error).__name__}: {error})"
        ) from None


@dataclass
class CalibratedClassifier:
    """A trained textmix model with its featurizer, label names and fitted temperature.

    Args:
        model: the network (eval mode).
        featurizer: turns texts into token ids.
        label_names: class names in label-id order.
        temperature: T of temperature scaling fitted on validation (1.0: none).
        batch_size: texts per forward pass.
    """

    model: torch.nn.Module
    featurizer: object
    label_names: list[str]
    temperature: float = 1.0
    batch_size: int = 64

    @torch.no_grad()
    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits (N, K), in input order."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        self.model.eval()
        device = next(self.model.parameters()).device
        encoded = [{"input_ids": self.featurizer.encode(t), "label": 0, "index": i} for i, t in enumerate(texts)]
        outputs = []
        for start in range(0, len(encoded), self.batch_size):
            batch = collate(
                encoded[start : start + self.batch_size], self.featurizer.pad_id, self.featurizer.min_length
            )
            logits = self.model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            outputs.append(logits.float().cpu())
        if not outputs:
            return np.zeros((0, len(self.label_names)))
        return torch.cat(outputs).double().numpy()

    def predict_proba(self, texts: list[str], calibrated: bool = True) -> np.ndarray:
        """Class probabilities (N, K): softmax(logits / T), or T = 1 with ``calibrated=False``."""
        temperature = self.temperature if calibrated else 1.0
        return torch.softmax(torch.from_numpy(self.logits(texts)) / temperature, dim=1).numpy()

    def predict(self, texts: list[str], abstain_below: float | None = None) -> list[dict]:
        """One dict per text: ``label``, ``probability`` (calibrated) and ``probabilities``.

        Args:
            abstain_below: selective classification; when the winning probability is below this
                value the label is ``"abstain"`` (the best guess stays in ``best_label``).
        """
        if abstain_below is not None and not 0.0 <= abstain_below <= 1.0:
            raise ValueError(f"abstain_below must be a probability in [0, 1], got {abstain_below}")
        results = []
        for text, probs in zip(texts, self.predict_proba(texts)):
            best = int(probs.argmax())
            abstain = abstain_below is not None and probs[best] < abstain_below
            results.append(
                {
                    "text": text,
                    "label": "abstain" if abstain else self.label_names[best],
                    "best_label": self.label_names[best],
                    "probability": float(probs[best]),
                    "probabilities": {name: float(p) for name, p in zip(self.label_names, probs)},
                }
            )
        return results


def load_model(source: str | Path, device: str | torch.device = "cpu") -> CalibratedClassifier:
    """Load a textmix model from a run directory, a model folder or a Hub repository id."""
    folder = _model_folder(source)
    info = json.loads((folder / TEXTMIX_FILE).read_text())
    name = info.get("model")
    if name not in MODELS or MODELS[name].cls is None:
        raise ValueError(f"{folder} holds model {name!r}, which this textmix cannot rebuild; known: {sorted(MODELS)}")
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{folder / WEIGHTS_FILE} is missing (textmix loads safetensors weights only)")
    with contextlib.redirect_stdout(sys.stderr):  # the mixin prints a loading notice; stdout is for results
        model = MODELS[name].cls.from_pretrained(folder).to(device).eval()
    return CalibratedClassifier(
        model=model,
        featurizer=load_featurizer(folder),
        label_names=list(info["label_names"]),
        temperature=float(info.get("temperature", 1.0)),
    )


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def model_card(run_dir: Path, repo_id: str):
    """A ``huggingface_hub.ModelCard`` with ``model-index`` results and the calibration story."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from textmix.data.datasets import DATASETS

    metrics = json.loads((run_dir / "metrics.json").read_text())
    recipe = (run_dir / "recipe.yaml").read_text()
    import yaml

    config = yaml.safe_load(recipe)
    dataset = config["data"]["name"]
    hub_dataset = DATASETS[dataset].hub_id if dataset in DATASETS else dataset
    method = metrics["method"]
    alpha = config["mixup"]["alpha"] if method.startswith("mixup") else None
    test = metrics["test"]
    scaled = metrics.get("temperature_scaled", {}).get("test")
    names = {
        "accuracy": "Accuracy",
        "ece": "Expected calibration error (15 bins)",
        "oe": "Overconfidence error (15 bins)",
        "nll": "Negative log-likelihood",
    }
    results = [
        EvalResult(
            task_type="text-classification",
            dataset_type=hub_dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type=key,
            metric_name=label,
            metric_value=round(test[key], 6),
        )
        for key, label in names.items()
    ]
    data = ModelCardData(
        library_name="textmix",
        pipeline_tag="text-classification",
        datasets=[hub_dataset],
        tags=["textmix", "mixup", "calibration", config["model"]["name"]],
        model_name=repo_id,
        eval_results=results,
        metrics=list(names),
    )
    rows = ["| metric | test | after temperature scaling |", "|---|---|---|"]
    for key in ("accuracy", "ece", "oe", "mce", "nll", "brier", "mean_confidence"):
        rows.append(f"| {key} | {_fmt(test[key])} | {_fmt(scaled[key]) if scaled else '—'} |")
    method_text = f"{method} (α = {alpha})" if alpha is not None else method
    temperature = metrics.get("temperature_scaled", {}).get("temperature")
    body = f"""
# {repo_id}

A {config["model"]["name"]} text classifier trained on **{dataset}** with **{method_text}** by
[textmix](https://github.com/textmix/textmix): mixup on the embedding layer for better-calibrated
confidence (Thulasidasan et al., NeurIPS 2019). Model selected at the best validation accuracy
(epoch {metrics["best_epoch"]}); {test["n"]} test examples.

## Calibration on the test split

{chr(10).join(rows)}

Temperature scaling: T = {f"{temperature:.4f}" if temperature else "not fitted"} (fitted on the validation split);
`predict_proba` applies it.

![reliability diagram](reliability.png)

## Use

```python
import textmix

model = textmix.load_model("{repo_id}")
model.predict_proba(["an engaging and moving film"])   # calibrated probabilities
model.predict(["an engaging and moving film"], abstain_below=0.8)
```

or `textmix predict {repo_id} "an engaging and moving film" --abstain-below 0.8`.

## Training recipe

```yaml
{recipe.strip()}
```
"""
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body)


def prepare_upload(run_dir: str | Path, repo_id: str, out_dir: str | Path) -> Path:
    """Write exactly the folder that would be uploaded: model files, card, reliability diagram."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for required in ("metrics.json", "recipe.yaml", f"model/{TEXTMIX_FILE}", f"model/{WEIGHTS_FILE}"):
        if not (run_dir / required).is_file():
            raise FileNotFoundError(f"{run_dir / required} is missing: push needs a finished textmix run")
    task = (yaml.safe_load((run_dir / "recipe.yaml").read_text()) or {}).get("task", "text")
    if task != "text":
        raise HubError(f"{run_dir} is a {task} run; Hub sharing and predict support text models")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; choose an empty or new folder for --dry-run")
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in sorted((run_dir / "model").iterdir()):
        if item.is_file() and item.name != "README.md":
            shutil.copy2(item, out_dir / item.name)
    if (run_dir / "reliability.png").is_file():
        shutil.copy2(run_dir / "reliability.png", out_dir / "reliability.png")
    shutil.copy2(run_dir / "metrics.json", out_dir / "metrics.json")
    model_card(run_dir, repo_id).save(out_dir / "README.md")
    return out_dir


def push_run(run_dir: str | Path, repo_id: str, private: bool = False, dry_run: str | Path | None = None) -> str:
    """Upload a run's best model to ``repo_id`` (or only write the folder with ``dry_run``).

    The token comes from ``huggingface_hub`` (``hf auth login`` or ``HF_TOKEN``); it is never
    printed or written. Returns the repository URL, or the dry-run folder.
    """
    import tempfile

    from huggingface_hub import HfApi, get_token

    if "/" not in repo_id:
        raise ValueError(f"--repo-id must look like user/name, got {repo_id!r}")
    if dry_run is not None:
        return str(prepare_upload(run_dir, repo_id, dry_run))
    if get_token() is None:
        raise HubError("no Hugging Face token: run `hf auth login` or set HF_TOKEN, then push again")
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_upload(run_dir, repo_id, Path(tmp) / "upload")
        api = HfApi()
        try:
            url = api.create_repo(repo_id=repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="Upload textmix model")
        except Exception as error:  # offline, refused token, no permission
            raise HubError(f"pushing to {repo_id} failed: {type(error).__name__}: {error}") from None
    return str(url)


__all__ = ["CalibratedClassifier", "HubError", "load_model", "model_card", "prepare_upload", "push_run"]
