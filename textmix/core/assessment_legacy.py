"""Reading what textmix 0.2 and 0.3 wrote: their ``metrics.json`` / ``evaluation.json`` and
``calibration.json`` layouts, upgraded to :class:`textmix.core.assessment.Assessment`'s.

The only place that knows the old names: temperature scaling's block was ``temperature_scaled``
(its state beside its metrics), other calibrators' blocks held their state beside their metrics
and cross-fitted validation metrics under ``val``, OOD sources were ``baseline`` /
``temperature_scaled``, shift sets named calibrators by those keys, and ``textmix calibrate``
wrote ``metrics`` / ``calibrated.<name>.calibrator`` / ``ood.auroc_<name>``, ``MixupTrainer``
``eval`` / ``eval_calibrated``.
"""

from __future__ import annotations

NONE = "none"  # the uncalibrated probabilities' source name
LAYOUT = 1  # version of the JSON layout Assessment.to_json writes
OLD_TEMPERATURE = "temperature_scaled"
OLD_SOURCES = {"baseline": NONE, OLD_TEMPERATURE: "temperature"}  # OOD tables and scores.npz keys
METRIC_KEYS = ("val", "test", "intervals", "crossfit_val")


def upgrade(data: dict) -> dict:
    """``data`` in the current layout (returned as is when it already is)."""
    if data.get("assessment") == LAYOUT:
        return data
    if "metrics" in data and "test" not in data:
        return _upgrade_calibration_json(data)
    if "eval_calibrated" in data:
        return _upgrade_trainer_json(data)
    return _upgrade_metrics_json(data)


def source_name(old: str) -> str:
    """A probability source's current name from a 0.2 / 0.3 key ("baseline", "temperature_scaled")."""
    return OLD_SOURCES.get(old, old)


def _old_block(name: str, block: dict, crossfit: dict | None) -> dict:
    """One calibrator's 0.2 / 0.3 block (state beside metrics) in the current layout."""
    state = {k: v for k, v in block.items() if k not in METRIC_KEYS}
    in_sample = name == "temperature"  # 0.3 wrote temperature's val in-sample, the others' cross-fitted
    out = {
        "test": block["test"],
        "calibrator": {"name": name, "state": state},
        "val": block.get("val") if in_sample else None,
        "crossfit_val": crossfit if crossfit is not None or in_sample else block.get("val"),
        "intervals": block.get("intervals"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _upgrade_metrics_json(data: dict) -> dict:
    out = {
        k: v for k, v in data.items() if k not in (OLD_TEMPERATURE, "calibrated", "ood", "shift", "calibrator_choice")
    }
    out["assessment"] = LAYOUT
    choice = data.get("calibrator_choice", {})
    crossfit = choice.get("crossfit_val", {})
    calibrated = {}
    if OLD_TEMPERATURE in data:
        calibrated["temperature"] = _old_block("temperature", data[OLD_TEMPERATURE], crossfit.get("temperature"))
    for name, block in data.get("calibrated", {}).items():
        calibrated[name] = _old_block(name, block, crossfit.get(name))
    if calibrated:
        chosen = choice.get("chosen") or next(iter(calibrated))
        out["calibrated"] = {chosen: calibrated[chosen], **{k: v for k, v in calibrated.items() if k != chosen}}
        out["calibrator_choice"] = {"chosen": chosen, "setting": choice.get("setting", "auto")}
    if "ood" in data:
        out["ood"] = {
            name: {source_name(k): v for k, v in table.items()} for name, table in data["ood"].items()
        }  # fmt: skip
    if "shift" in data:
        out["shift"] = {name: _upgrade_shift(s) for name, s in data["shift"].items()}
    return out


def _upgrade_shift(s: dict) -> dict:
    kept = ("n", "test", "intervals", "conformal")
    out = {k: s[k] for k in kept if k in s}
    out["calibrated"] = {source_name(k): {"test": v} for k, v in s.items() if k not in kept}
    return out


def _upgrade_trainer_json(data: dict) -> dict:
    """``MixupTrainer``'s calibration.json of 0.3: one calibrator fitted and measured on the eval set."""
    calibrator = data["calibrator"]
    block = {"test": data["eval_calibrated"], "calibrator": calibrator}
    return {"assessment": LAYOUT, "n_bins": 15, "val": data["eval"], "test": data["eval"],
            "calibrated": {calibrator["name"]: block},
            "calibrator_choice": {"chosen": calibrator["name"], "setting": calibrator["name"]}}  # fmt: skip


def _upgrade_calibration_json(data: dict) -> dict:
    """``textmix calibrate``'s calibration.json of 0.2 (temperature only) and 0.3 (every calibrator)."""
    out = {"assessment": LAYOUT, "n_bins": data.get("n_bins", 15), "val": None, "test": data["metrics"]}
    if data.get("intervals"):
        out["intervals"] = {"test": data["intervals"]}
    calibrated = {}
    for name, c in data.get("calibrated", {}).items():
        block = {"test": c["test"], "calibrator": c["calibrator"], "crossfit_val": c.get("crossfit_val")}
        calibrated[name] = {k: v for k, v in {**block, "intervals": c.get("intervals")}.items() if v}
    if not calibrated and OLD_TEMPERATURE in data:  # 0.2: temperature scaling only
        state = {"temperature": data["temperature"]}
        calibrated["temperature"] = {
            "test": data[OLD_TEMPERATURE],
            "calibrator": {"name": "temperature", "state": state},
        }
    if calibrated:
        chosen = data.get("chosen") or next(iter(calibrated))
        out["calibrated"] = {chosen: calibrated[chosen], **{k: v for k, v in calibrated.items() if k != chosen}}
        out["calibrator_choice"] = {"chosen": chosen, "setting": "auto"}
    if data.get("conformal"):
        out["conformal"] = {"split": 0.0, "n_calibration": None, "results": data["conformal"]}
    if data.get("ood"):
        ood = data["ood"]
        table = {NONE: {"auroc": ood["auroc"]}}
        table.update({k.removeprefix("auroc_"): {"auroc": v} for k, v in ood.items() if k.startswith("auroc_")})
        out["ood"] = {"ood": {"n": ood["n"], **table}}
    return out
