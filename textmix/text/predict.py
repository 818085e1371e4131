"""Use trained text models: load from a run directory, a model folder or the Hub; calibrated prediction.

    model = textmix.load_model("runs/mr_kim_cnn_mixup")        # a run dir, a model folder or a Hub id
    model.predict_proba(["a gripping, funny film"])             # (N, K), its calibrator applied

Loading reads JSON, tokenizer text files and safetensors only: nothing from a downloaded
repository is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textmix.core.calibrators import Calibrator, TemperatureScaling, uncalibrated_probs
from textmix.core.conformal import ConformalPredictor, make_score
from textmix.core.errors import ArgumentError, HubError
from textmix.core.risk_control import RiskControl
from textmix.core.selective import pick_threshold
from textmix.engine.run_directory import RunDir
from textmix.text.features import FEATURIZER_FILE, HFFeaturizer, collate, load_featurizer
from textmix.text.hf_loading import hf_from_pretrained, refuse_custom_code
from textmix.text.model_folder import (
    check_vocabulary,
    checked_label_names,
    find_model_folder,
    json_file,
    saved_calibrator,
    saved_conformal,
    saved_coverage,
    saved_risk_control,
    stock_info,
)
from textmix.text.models import MODELS, load_pretrained


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


def check_readable(texts: list[str], featurizer) -> None:
    """Refuse, in one line naming their positions, empty texts and texts with no word the model knows."""
    _check_texts(texts)
    _check_tokens(texts, featurizer)


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
    risk_control: dict | None = None  # Learn-then-Test counts of the calibration split (guaranteed abstention)

    @torch.no_grad()
    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits (N, K), in input order."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        check_readable(texts, self.featurizer)
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

    def predict_set(self, texts: list[str], alpha: float = 0.1, method: str = "lac") -> list[list[str]]:
        """Conformal prediction sets: for each text the labels that, with probability at least
        1 − ``alpha``, include the true one (split conformal, calibrated on the validation split of
        training with ``method``: lac, the default, or aps, raps, saps as stored; on a two-class model
        only lac)."""
        predictor = self.conformal_predictor(alpha, method)
        sets = predictor.predict(self.predict_proba(texts))
        return [[name for name, keep in zip(self.label_names, row) if keep] for row in sets]

    def conformal_predictor(self, alpha: float, method: str):
        """The stored conformal calibration of ``method`` at level ``alpha``."""
        if not self.conformal:
            raise ArgumentError("this model stores no conformal calibration scores (trained with textmix < 0.3)")
        methods = self.conformal["methods"]
        make_score(method).check_classes(len(self.label_names), "another method the model stores")
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
        return ConformalPredictor.from_sorted_scores(score, alpha, stored["sorted_scores"], stored["mondrian"],
                                                   len(self.label_names))  # fmt: skip

    def abstain_threshold(
        self, coverage: float | None = None, validation_risk: float | None = None
    ) -> tuple[float, float, float]:
        """(threshold, validation coverage, validation risk) for a target coverage, or for a risk
        reached on the validation split's risk–coverage table (no guarantee on new texts: the
        threshold is fitted to the very examples it is judged on; :meth:`risk_threshold` gives one)."""
        if self.validation_coverage is None:
            raise ArgumentError("this model was saved without a validation risk-coverage table (textmix < 0.2)")
        for name, value in (("coverage", coverage), ("risk", validation_risk)):
            if value is not None and not 0 <= value <= 1:
                raise ArgumentError(f"target {name} must be in [0, 1], got {value}")
        return pick_threshold(self.validation_coverage, coverage, validation_risk)

    def risk_threshold(self, risk: float, delta: float = 0.1, procedure: str = "fixed_sequence") -> RiskControl:
        """The abstention threshold with a guarantee (Learn then Test, :mod:`textmix.core.risk_control`):
        with probability >= 1 − ``delta`` over the calibration split, the error rate among the texts
        answered is <= ``risk`` on new texts like it. ``.threshold`` is inf when no threshold can be
        certified (abstain on everything); ``.calibration`` the (answered, errors) it rests on."""
        if not self.risk_control:
            raise ArgumentError("this model stores no risk-control counts (trained with textmix < 0.4): retrain it, "
                                "or use --validation-risk (no guarantee)")  # fmt: skip
        used = self.calibrator.name if self.calibrator is not None else "none"
        if used != self.risk_control["probabilities"]:
            raise ArgumentError(f"the risk-control counts were computed on {self.risk_control['probabilities']} "
                                f"probabilities; load the model with that calibrator, not {used}")  # fmt: skip
        return RiskControl("selective", risk, delta, procedure).fit_counts(self.risk_control["selective"])

    def predict_or_abstain(self, texts: list[str], risk: float, delta: float = 0.1) -> list[dict]:
        """:meth:`predict` with ``label`` "abstain" below the threshold of :meth:`risk_threshold`:
        P(error rate among the answered texts > ``risk``) <= ``delta``."""
        return self.predict(texts, abstain_below=self.risk_threshold(risk, delta).threshold)

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


def checked_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device this machine has; one line naming the cause otherwise (not a
    damaged model folder, which is what loading weights onto a missing GPU looks like)."""
    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError):
        raise ArgumentError(f"device {device!r} is not a torch device: use cpu, cuda, cuda:1 or mps") from None
    if checked.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError(f"device {device!r}: this machine has no CUDA device torch can use "
                            "(torch.cuda.is_available() is False); use --device cpu")  # fmt: skip
    if checked.type == "cuda" and checked.index is not None and checked.index >= torch.cuda.device_count():
        raise ArgumentError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if checked.type == "mps" and not torch.backends.mps.is_available():
        raise ArgumentError(f"device {device!r}: MPS is not available on this machine; use --device cpu")
    return checked


def load_model(
    source: str | Path, device: str | torch.device = "cpu", calibrator: str | None = None
) -> CalibratedClassifier:
    """Load a textmix model from a run directory, a model folder or a Hub repository id.

    A folder in transformers' layout (``config.json`` with a ``model_type``: a pushed model with
    ``pooling: pooler``, a ``MixupTrainer`` output, any stock sequence classifier) loads through
    ``AutoModelForSequenceClassification`` from safetensors, never with remote code; its class names
    come from textmix.json or ``id2label``, its calibrator from textmix.json or
    ``textmix_calibrator``.

    Args:
        calibrator: None: the calibrator chosen in training; a name: another one the model folder
            stores (``eval.calibrators``); ``"none"``: uncalibrated probabilities.
    """
    device = checked_device(device)
    folder = find_model_folder(source)
    refuse_custom_code(folder)
    config = json_file(folder / "config.json")
    stock = "model_type" in config
    info = json_file(folder / RunDir.MODEL_INFO) or (stock_info(config, folder) if stock else {})
    if not stock and (info.get("model") not in MODELS or MODELS.get(info.get("model")).cls is None):
        name = info.get("model")
        raise HubError(f"{folder} holds model {name!r}, which this textmix cannot rebuild; known: {sorted(MODELS)}")
    if not (folder / RunDir.WEIGHTS).is_file():
        raise HubError(f"{folder / RunDir.WEIGHTS} is missing (textmix loads safetensors weights only)")
    try:
        model = _load_stock(folder) if stock else load_pretrained(MODELS.get(info["model"]).cls, folder)
        model = model.to(device).eval()
    except Exception as error:  # noqa: BLE001 - truncated weights, damaged config: name the folder
        raise HubError(
            f"cannot load the model in {folder} ({type(error).__name__}: {str(error)[:200]}); "
            f"{RunDir.WEIGHTS} or config.json is damaged: copy or download it again"
        ) from None
    featurizer = load_featurizer(folder) if (folder / FEATURIZER_FILE).is_file() or not stock else _tokenizer(folder)
    check_vocabulary(model, featurizer, folder)
    return CalibratedClassifier(
        model=model,
        featurizer=featurizer,
        label_names=checked_label_names(info, folder),
        calibrator=saved_calibrator(info, folder / RunDir.MODEL_INFO, calibrator)
        if (folder / RunDir.MODEL_INFO).is_file()
        else saved_calibrator(info, folder / "config.json", calibrator, field="textmix_calibrator"),
        validation_coverage=saved_coverage(info, folder / RunDir.MODEL_INFO),
        conformal=saved_conformal(info, folder / RunDir.MODEL_INFO),
        risk_control=saved_risk_control(info, folder / RunDir.MODEL_INFO),
    )


def _load_stock(folder: Path) -> torch.nn.Module:
    from textmix.text.models.transformer import StockClassifier

    return StockClassifier(hf_from_pretrained("AutoModelForSequenceClassification", folder, use_safetensors=True))


def _tokenizer(folder: Path):
    """The tokenizer files of a transformers folder, truncating at the model's limit (512 at most)."""
    try:
        tokenizer = hf_from_pretrained("AutoTokenizer", folder)
    except HubError:
        raise
    except Exception as error:  # noqa: BLE001 - missing or truncated tokenizer files: name the folder
        raise HubError(f"the tokenizer files in {folder} are missing or unreadable ({type(error).__name__}); "
                       "save the tokenizer with the model (processing_class=tokenizer)") from None  # fmt: skip
    return HFFeaturizer(tokenizer, max_length=min(tokenizer.model_max_length, 512))


__all__ = ["CalibratedClassifier", "load_model"]
