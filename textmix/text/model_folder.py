"""What a model folder holds, read as input: found (a run directory's ``model/``, a folder, a Hub
snapshot of safe files only), checked (no custom code, a vocabulary the embedding table covers,
class names that fit, calibrator and conformal state that load) and named in one line when damaged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from textmix.core.calibrators import Calibrator, calibrator_from_json
from textmix.core.conformal import make_score
from textmix.core.conformal.stored import check_sorted_scores
from textmix.core.errors import ArgumentError, HubError
from textmix.core.risk_control import RISKS, RiskCounts
from textmix.core.selective import check_coverage_table
from textmix.engine.run_directory import RunDir

logger = logging.getLogger(__name__)

# Files a textmix model folder may hold; a Hub download fetches only these (no pickles).
SAFE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md", "*.png"]


def find_model_folder(source: str | Path) -> Path:
    """A run directory's ``model/``, a local model folder, or a Hub snapshot of safe files."""
    path = Path(source).expanduser()
    if RunDir(path).model_info.is_file():
        notice_unfinished(RunDir(path))
        return RunDir(path).model
    if (path / RunDir.MODEL_INFO).is_file() or (path / "config.json").is_file():
        return path  # a textmix model folder, or a transformers one (MixupTrainer.save_model)
    if path.exists():
        raise HubError(f"{path} is neither a textmix run directory nor a model folder "
                       f"(no {RunDir.MODEL_INFO} or config.json)")  # fmt: skip
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source), allow_patterns=SAFE_PATTERNS))
    except Exception as error:
        raise HubError(
            f"{source!r} is not a local folder and could not be downloaded from the Hugging Face Hub "
            f"({type(error).__name__}: {error})"
        ) from None


def notice_unfinished(run: RunDir) -> None:
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


def check_vocabulary(model: torch.nn.Module, featurizer, folder: Path) -> None:
    """Every id the featurizer can produce must have a row in the model's token table (its first
    embedding layer); a larger vocabulary would crash on some texts and answer others."""
    table = next((m for m in model.modules() if isinstance(m, torch.nn.Embedding)), None)
    size, rows = featurizer.vocab_size, table.num_embeddings if table is not None else None
    if rows is not None and size > rows:
        raise HubError(f"{folder}: the featurizer's vocabulary has {size} tokens but the model's embedding table "
                       f"{rows} rows; the folder mixes two models: copy or download it again")  # fmt: skip


def saved_calibrator(info: dict, where: Path, name: str | None = None, field: str = "calibrator") -> Calibrator | None:
    """The calibrator of a model folder's ``textmix.json``: the one chosen in training
    (``calibrator``), another stored one by ``name`` (``calibrators``), or the bare ``temperature``
    of textmix 0.2; None when it holds none, or for ``name="none"``. Its state is checked against
    the model's class count (a damaged one is named; a degenerate one warned about)."""
    if name == "none":
        return None
    names = info.get("label_names")
    k = len(names) if isinstance(names, list) and len(names) >= 2 else None
    try:
        if name is not None:
            stored = info.get("calibrators", {}) if isinstance(info.get("calibrators", {}), dict) else {}
            if name not in stored:
                raise HubError(
                    f"{where} stores no calibrator {name!r}; it stores: {', '.join(stored) or 'none'} (or none)"
                )
            return calibrator_from_json(stored[name], f"{where} field 'calibrators.{name}'", k)
        if "calibrator" in info:
            return calibrator_from_json(info["calibrator"], f"{where} field '{field}'", k)
        if "temperature" in info:
            return calibrator_from_json({"name": "temperature", "state": {"temperature": info["temperature"]}},
                                        f"{where} field 'temperature'", k)  # fmt: skip
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
            saved = json.loads(config.read_text())
            counts["config.json num_classes"] = saved.get("num_classes")
            if isinstance(saved.get("id2label"), dict):
                counts["config.json id2label"] = len(saved["id2label"])
        except (ValueError, AttributeError):
            raise HubError(f"{config} is not a JSON object; the model folder is damaged") from None
    for what, count in counts.items():
        if count is not None and count != len(names):
            raise HubError(f"{where} field 'label_names' has {len(names)} names but {what} is {count}; "
                           "the model folder is damaged: copy or download it again")  # fmt: skip
    return list(names)


def saved_conformal(info: dict, where: Path) -> dict | None:
    """``textmix.json``'s conformal calibration scores, checked against the model's classes: each
    score's settings, one group of sorted, finite scores in the score's range per class for Mondrian
    sets (None for models without them)."""
    saved = info.get("conformal")
    if saved is None:
        return None
    names = info.get("label_names")
    try:
        assert isinstance(saved, dict) and isinstance(saved.get("probabilities"), str), "a mapping with probabilities"
        assert isinstance(saved.get("methods"), dict) and saved["methods"], "scores of at least one method"
        for method, stored in saved["methods"].items():
            score = make_score(method)
            score.load_state_dict(stored["score_state"])
            assert isinstance(stored["mondrian"], bool), "'mondrian' must be true or false"
            check_sorted_scores(score, stored["sorted_scores"], stored["mondrian"], len(names))
    except (AssertionError, KeyError, TypeError, ValueError, ArgumentError) as error:
        raise HubError(f"{where} field 'conformal' is damaged ({type(error).__name__}: {error}); "
                       "copy or download the model again") from None  # fmt: skip
    return saved


def saved_coverage(info: dict, where: Path) -> dict | None:
    """``textmix.json``'s validation risk–coverage table, checked (None for models without one)."""
    table = info.get("validation_coverage")
    if table is None:
        return None
    try:
        return check_coverage_table(table)
    except ValueError as error:
        raise HubError(f"{where} field 'validation_coverage' is damaged ({error}); "
                       "copy or download the model again") from None  # fmt: skip


def saved_risk_control(info: dict, where: Path) -> dict | None:
    """``textmix.json``'s risk-control counts, checked: {"probabilities", "n", risk → RiskCounts}
    (None for models trained before textmix 0.4)."""
    saved = info.get("risk_control")
    if saved is None:
        return None
    try:
        assert isinstance(saved, dict) and isinstance(saved.get("probabilities"), str), "a mapping with probabilities"
        return {"probabilities": saved["probabilities"],
                **{risk: RiskCounts.from_json(risk, saved[risk]) for risk in RISKS}}  # fmt: skip
    except (AssertionError, KeyError, ArgumentError) as error:
        raise HubError(f"{where} field 'risk_control' is damaged ({type(error).__name__}: {error}); "
                       "copy or download the model again") from None  # fmt: skip


def json_file(path: Path) -> dict:
    """A model folder's JSON object file ({} when absent); damage is named."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise HubError(f"{path} is not valid JSON ({error}); the model folder is damaged") from None
    if not isinstance(value, dict):
        raise HubError(f"{path} is not a JSON object; the model folder is damaged")
    return value


def stock_info(config: dict, folder: Path) -> dict:
    """textmix.json's facts for a transformers folder without one (``MixupTrainer.save_model``):
    class names from ``id2label``, the calibrator from ``textmix_calibrator`` (or the bare
    ``textmix_temperature`` of textmix 0.2)."""
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or sorted(id2label, key=int) != [str(i) for i in range(len(id2label))]:
        raise HubError(f"{folder / 'config.json'} field 'id2label' must map 0..K-1 to class names")
    info = {"label_names": [id2label[str(i)] for i in range(len(id2label))]}
    if "textmix_calibrator" in config:
        info["calibrator"] = config["textmix_calibrator"]
    elif "textmix_temperature" in config:
        info["temperature"] = config["textmix_temperature"]
    return info
