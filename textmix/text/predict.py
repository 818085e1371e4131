"""Use trained text models: load from a run directory, a model folder or the Hub; calibrated prediction.

    model = textmix.load_model("runs/mr_kim_cnn_mixup")        # a run dir, a model folder or a Hub id
    model.predict_proba(["a gripping, funny film"])             # (N, K), its calibrator applied

Loading reads JSON, tokenizer text files and safetensors only: nothing from a downloaded
repository is unpickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textmix.core.calibrators import Calibrator, TemperatureScaling, calibrator_from_json, uncalibrated_probs
from textmix.core.conformal import ConformalPredictor, make_score
from textmix.core.errors import ArgumentError, HubError
from textmix.core.selective import pick_threshold
from textmix.engine.run_directory import RunDir
from textmix.text.features import collate, load_featurizer
from textmix.text.models import MODELS

logger = logging.getLogger(__name__)

# Files a textmix model folder may hold; a Hub download fetches only these (no pickles).
SAFE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md", "*.png"]


def _model_folder(source: str | Path) -> Path:
    """A run directory's ``model/``, a local model folder, or a Hub snapshot of safe files."""
    path = Path(source).expanduser()
    if RunDir(path).model_info.is_file():
        _notice_unfinished(RunDir(path))
        return RunDir(path).model
    if (path / RunDir.MODEL_INFO).is_file():
        return path
    if path.exists():
        raise HubError(f"{path} is neither a textmix run directory nor a model folder (no {RunDir.MODEL_INFO})")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), allow_patterns=SAFE_PATTERNS))
    except Exception as error:
        raise HubError(
            f"{source!r} is not a local folder and could not be downloaded from the Hugging Face Hub "
            f"({type(error).__name__}: {error})"
        ) from None


def _notice_unfinished(run: RunDir) -> None:
    """Say so when a run directory's model is not its final one: its best epoch so far, replaced
    whenever a later epoch validates better."""
    if run.finished:
        return
    try:
        epoch = json.loads(run.model_info.read_text()).get("epoch", "?")
    except (OSError, ValueError, AttributeError):
        epoch = "?"
    holder = run.holder()
    state = f"is still training ({holder})" if holder else "is unfinished (interrupted; --resume continues it)"
    logger.warning(f"notice: {run} {state}: predicting with its best model so far (epoch {epoch}), "
                   "which may change until the run finishes")  # fmt: skip


def _refuse_custom_code(folder: Path) -> None:
    """A config that maps to code shipped with the model (``auto_map``, at any depth) is refused:
    textmix never runs code from a model folder, whatever a library's error suggests."""

    def has_auto_map(value) -> bool:
        if isinstance(value, dict):
            return "auto_map" in value or any(has_auto_map(v) for v in value.values())
        return isinstance(value, list) and any(has_auto_map(v) for v in value)

    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError):
            raise HubError(
                f"{path} is not valid JSON; the model folder is damaged: copy or download it again"
            ) from None
        if has_auto_map(config):
            raise HubError(f"{path} points at custom code (auto_map); textmix never runs code from a model "
                           "folder: train or export the model with textmix")  # fmt: skip


def _check_vocabulary(model: torch.nn.Module, featurizer, folder: Path) -> None:
    """Every id the featurizer can produce must have a row in the model's token table (its first
    embedding layer); a larger vocabulary would crash on some texts and answer others."""
    table = next((m for m in model.modules() if isinstance(m, torch.nn.Embedding)), None)
    size, rows = featurizer.vocab_size, table.num_embeddings if table is not None else None
    if rows is not None and size > rows:
        raise HubError(f"{folder}: the featurizer's vocabulary has {size} tokens but the model's embedding table "
                       f"{rows} rows; the folder mixes two models: copy or download it again")  # fmt: skip


def _check_texts(texts: list) -> None:
    """Refuse what has nothing to classify: a probability for an empty text is the model's prior
    in disguise. Positions are 1-based, as a user counts arguments and lines."""
    not_text = [i + 1 for i, t in enumerate(texts) if not isinstance(t, str)]
    if not_text:
        raise ArgumentError(
            f"texts at positions {not_text[:10]} are not strings ({type(texts[not_text[0] - 1]).__name__})"
        )
    empty = [i + 1 for i, t in enumerate(texts) if not t.strip()]
    if empty:
        more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        raise ArgumentError(f"texts at positions {empty[:10]}{more} are empty or whitespace only; remove them")


def _check_tokens(texts: list[str], featurizer) -> None:
    """Refuse texts the featurizer maps to nothing (only symbols or emoji for the Kim tokenizer, only
    unknown pieces for a subword one): their probabilities would be the model's prior."""
    unknown = getattr(getattr(featurizer, "tokenizer", None), "unk_token", None)
    empty = [i + 1 for i, t in enumerate(texts) if not [tok for tok in featurizer.tokenize(t) if tok != unknown]]
    if empty:
        more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        raise ArgumentError(f"texts at positions {empty[:10]}{more} hold no word the model can read (only symbols, "
                            "emoji or unknown pieces); remove them")  # fmt: skip


@dataclass
class CalibratedClassifier:
    """A trained textmix model with its featurizer, label names and fitted calibrator.

    Args:
        model: the network (eval mode).
        featurizer: turns texts into token ids.
        label_names: class names in label-id order.
        calibrator: the post-hoc calibrator fitted on validation (None: none).
        batch_size: texts per forward pass.
    """

    model: torch.nn.Module
    featurizer: object
    label_names: list[str]
    calibrator: Calibrator | None = None
    batch_size: int = 64
    validation_coverage: dict | None = None  # risk–coverage table of the validation split
    conformal: dict | None = None  # per method: the calibration scores of conformal prediction sets

    @torch.no_grad()
    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits (N, K), in input order."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        _check_texts(texts)
        _check_tokens(texts, self.featurizer)
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

    @property
    def temperature(self) -> float:
        """T of a temperature-scaling calibrator (1.0 for none)."""
        return self.calibrator.temperature if isinstance(self.calibrator, TemperatureScaling) else 1.0

    def predict_proba(self, texts: list[str], calibrated: bool = True) -> np.ndarray:
        """Class probabilities (N, K), float64: after the calibrator, or raw with ``calibrated=False``."""
        logits = self.logits(texts)
        if calibrated and self.calibrator is not None:
            return self.calibrator(logits)
        return uncalibrated_probs(logits)

    def predict_set(self, texts: list[str], alpha: float = 0.1, method: str = "aps") -> list[list[str]]:
        """Conformal prediction sets: for each text the labels that, with probability at least
        1 − ``alpha``, include the true one (split conformal, calibrated on the validation split of
        training with ``method``: lac, aps, raps or saps as stored)."""
        predictor = self.conformal_predictor(alpha, method)
        sets = predictor.predict(self.predict_proba(texts))
        return [[name for name, keep in zip(self.label_names, row) if keep] for row in sets]

    def conformal_predictor(self, alpha: float, method: str):
        """The stored conformal calibration of ``method`` at level ``alpha``."""
        if not self.conformal:
            raise ArgumentError("this model stores no conformal calibration scores (trained with textmix < 0.3)")
        methods = self.conformal["methods"]
        if method not in methods:
            raise ArgumentError(f"this model stores conformal scores for {', '.join(methods)}, not {method!r}")
        used = self.calibrator.name if self.calibrator is not None else "none"
        if used != self.conformal["probabilities"]:
            raise ArgumentError(f"the conformal scores were computed on {self.conformal['probabilities']} "
                                f"probabilities; load the model with that calibrator, not {used}")  # fmt: skip
        if not 0 < alpha < 1:
            raise ArgumentError(f"conformal alpha must be in (0, 1), got {alpha}")
        stored = methods[method]
        score = make_score(method)
        score.load_state_dict(stored["score_state"])
        return ConformalPredictor.from_sorted_scores(score, alpha, stored["sorted_scores"], stored["mondrian"])

    def abstain_threshold(self, coverage: float | None = None, risk: float | None = None) -> tuple[float, float, float]:
        """(threshold, validation coverage, validation risk) for a target coverage or risk, from the
        validation split's risk–coverage table saved with the model (calibrated probabilities)."""
        if self.validation_coverage is None:
            raise ArgumentError("this model was saved without a validation risk-coverage table (textmix < 0.2)")
        for name, value in (("coverage", coverage), ("risk", risk)):
            if value is not None and not 0 <= value <= 1:
                raise ArgumentError(f"target {name} must be in [0, 1], got {value}")
        return pick_threshold(self.validation_coverage, coverage, risk)

    def predict(self, texts: list[str], abstain_below: float | None = None) -> list[dict]:
        """One dict per text: ``label``, ``probability`` (calibrated) and ``probabilities``.

        Args:
            abstain_below: selective classification; when the winning probability is below this
                value the label is ``"abstain"`` (the best guess stays in ``best_label``); ``inf``
                abstains on every text (no threshold reached a target risk on validation).
        """
        if abstain_below is not None and not (0.0 <= abstain_below <= 1.0 or abstain_below == float("inf")):
            raise ArgumentError(f"abstain_below must be a probability in [0, 1], got {abstain_below}")
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


def saved_calibrator(info: dict, where: Path, name: str | None = None) -> Calibrator | None:
    """The calibrator of a model folder's ``textmix.json``: the one chosen in training
    (``calibrator``), another stored one by ``name`` (``calibrators``), or the bare ``temperature``
    of textmix 0.2; None when it holds none, or for ``name="none"``."""
    if name == "none":
        return None
    try:
        if name is not None:
            stored = info.get("calibrators", {}) if isinstance(info.get("calibrators", {}), dict) else {}
            if name not in stored:
                raise HubError(
                    f"{where} stores no calibrator {name!r}; it stores: {', '.join(stored) or 'none'} (or none)"
                )
            return calibrator_from_json(stored[name], f"{where} field 'calibrators.{name}'")
        if "calibrator" in info:
            return calibrator_from_json(info["calibrator"], f"{where} field 'calibrator'")
        if "temperature" in info:
            return calibrator_from_json({"name": "temperature", "state": {"temperature": info["temperature"]}},
                                        f"{where} field 'temperature'")  # fmt: skip
    except ArgumentError as error:
        raise HubError(f"{error}; the model folder is damaged: copy or download it again") from None
    return None


def checked_label_names(info: dict, folder: Path) -> list[str]:
    """``textmix.json``'s class names: strings, one per class of the model (``num_classes`` there and
    in ``config.json``); a shorter or longer list would relabel every text."""
    names, where = info.get("label_names"), folder / RunDir.MODEL_INFO
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise HubError(f"{where} field 'label_names' must be a list of class names, got {str(names)[:100]}")
    counts = {"textmix.json num_classes": info.get("num_classes")}
    config = folder / "config.json"
    if config.is_file():
        try:
            counts["config.json num_classes"] = json.loads(config.read_text()).get("num_classes")
        except (ValueError, AttributeError):
            raise HubError(f"{config} is not a JSON object; the model folder is damaged") from None
    for what, count in counts.items():
        if count is not None and count != len(names):
            raise HubError(f"{where} field 'label_names' has {len(names)} names but {what} is {count}; "
                           "the model folder is damaged: copy or download it again")  # fmt: skip
    return list(names)


def saved_conformal(info: dict, where: Path) -> dict | None:
    """``textmix.json``'s conformal calibration scores, checked (None for models without them)."""
    saved = info.get("conformal")
    if saved is None:
        return None
    try:
        assert isinstance(saved["probabilities"], str) and isinstance(saved["methods"], dict)
        for method, stored in saved["methods"].items():
            make_score(method).load_state_dict(stored["score_state"])
            groups = stored["sorted_scores"] if stored["mondrian"] else [stored["sorted_scores"]]
            assert all(isinstance(g, list) and all(isinstance(v, (int, float)) for v in g) for g in groups)
            assert all(a <= b for g in groups for a, b in zip(g, g[1:]))
    except (AssertionError, KeyError, TypeError, ValueError, ArgumentError) as error:
        raise HubError(f"{where} field 'conformal' is damaged ({type(error).__name__}: {error}); "
                       "copy or download the model again") from None  # fmt: skip
    return saved


def load_model(
    source: str | Path, device: str | torch.device = "cpu", calibrator: str | None = None
) -> CalibratedClassifier:
    """Load a textmix model from a run directory, a model folder or a Hub repository id.

    Args:
        calibrator: None: the calibrator chosen in training; a name: another one the model folder
            stores (``eval.calibrators``); ``"none"``: uncalibrated probabilities.
    """
    folder = _model_folder(source)
    _refuse_custom_code(folder)
    try:
        info = json.loads((folder / RunDir.MODEL_INFO).read_text())
    except ValueError as error:
        raise HubError(
            f"{folder / RunDir.MODEL_INFO} is not valid JSON ({error}); the model folder is damaged"
        ) from None
    name = info.get("model")
    if name not in MODELS or MODELS[name].cls is None:
        raise HubError(f"{folder} holds model {name!r}, which this textmix cannot rebuild; known: {sorted(MODELS)}")
    if not (folder / RunDir.WEIGHTS).is_file():
        raise HubError(f"{folder / RunDir.WEIGHTS} is missing (textmix loads safetensors weights only)")
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the mixin prints a loading notice; stdout is for results
            model = MODELS[name].cls.from_pretrained(folder).to(device).eval()
    except Exception as error:  # noqa: BLE001 - truncated weights, damaged config: name the folder
        raise HubError(
            f"cannot load the model in {folder} ({type(error).__name__}: {str(error)[:200]}); "
            f"{RunDir.WEIGHTS} or config.json is damaged: copy or download it again"
        ) from None
    featurizer = load_featurizer(folder)
    _check_vocabulary(model, featurizer, folder)
    return CalibratedClassifier(
        model=model,
        featurizer=featurizer,
        label_names=checked_label_names(info, folder),
        calibrator=saved_calibrator(info, folder / RunDir.MODEL_INFO, calibrator),
        validation_coverage=info.get("validation_coverage"),
        conformal=saved_conformal(info, folder / RunDir.MODEL_INFO),
    )


__all__ = ["CalibratedClassifier", "load_model"]
