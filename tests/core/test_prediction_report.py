"""textmix.core.prediction_report and ``textmix calibrate FILE``: any model's predictions."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import textmix
from textmix.core.calibrators import BUILT_IN, TemperatureScaling
from textmix.core.errors import ArgumentError
from textmix.core.metrics import calibration_report, ood_auroc


def predictions(n=400, k=3, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + scale * np.eye(k)[labels] * rng.uniform(0, 1, (n, 1))
    return logits, labels


def softmax(x):
    return torch.softmax(torch.from_numpy(x), 1).numpy()


def test_probs_and_logits_give_the_calibration_report_and_temperature_scaling():
    logits, labels = predictions()
    val_logits, val_labels = predictions(seed=1)
    ood_logits, _ = predictions(200, seed=2, scale=0.0)
    report = textmix.calibrate(logits, labels, kind="logits", val=(val_logits, val_labels), ood=ood_logits)
    assert report.metrics == pytest.approx(calibration_report(softmax(logits), labels))
    temperature = report.calibrator.temperature
    assert report.chosen == "temperature"
    assert temperature == pytest.approx(TemperatureScaling().fit(val_logits, val_labels).temperature)
    assert report.scaled == pytest.approx(calibration_report(TemperatureScaling(temperature)(logits), labels))
    ood = report.assessment.ood["ood"]
    assert ood["none"]["auroc"] == pytest.approx(ood_auroc(softmax(logits).max(1), softmax(ood_logits).max(1)))
    after = TemperatureScaling(temperature)
    assert ood["temperature"]["auroc"] == pytest.approx(ood_auroc(after(logits).max(1), after(ood_logits).max(1)))
    from_probs = textmix.calibrate(softmax(logits), labels, val=(softmax(val_logits), val_labels))
    assert from_probs.metrics == pytest.approx(report.metrics)
    assert from_probs.calibrator.temperature == pytest.approx(temperature, rel=1e-4)  # log p = logits + const
    assert "temperature" in report.table() and "OOD AUROC" in report.table()


@pytest.mark.parametrize(
    "scores,labels,kind,message",
    [
        (np.array([[0.2, 0.3], [0.5, 0.5]]), [0, 1], "probs", r"row 1 sums to 0.5\); if these are logits"),
        (np.array([[2.0, -1.0], [0.5, 0.5]]), [0, 1], "probs", r"not probabilities \(row 1.*use --logits"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0, 2], "probs", r"label 2 at row 2 .* outside 0..1"),
        (np.array([[0.1, np.nan], [0.5, 0.5]]), [0, 1], "logits", r"NaN or infinite values \(row 1 of 2\)"),
        (np.array([0.5, 0.5]), [0], "probs", r"shape \(N, K\)"),
    ],
)
def test_bad_predictions_are_named(scores, labels, kind, message):
    with pytest.raises(ArgumentError, match=message):
        textmix.calibrate(scores, np.asarray(labels), kind=kind)


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "textmix.cli", "calibrate", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)  # fmt: skip


def test_cli_reads_csv_jsonl_parquet_and_npz(tmp_path):
    logits, labels = predictions()
    val_logits, val_labels = predictions(seed=1)
    probs = softmax(logits)
    names = ["neg", "neutral", "pos"]
    frame = pd.DataFrame({**{f"prob_{n}": probs[:, i] for i, n in enumerate(names)}, "gold": labels})
    frame.to_csv(tmp_path / "preds.csv", index=False)
    result = run("preds.csv", "--labels", "gold", "--probs", "prob_*", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "preds_calibration" / "calibration.json").read_text())
    assert saved["test"] == pytest.approx(calibration_report(probs, labels))
    assert {p.name for p in (tmp_path / "preds_calibration").iterdir()} == {
        "calibration.json", "reliability.png", "confidence.png"
    }  # fmt: skip

    named = pd.DataFrame({"neg": logits[:, 0], "neutral": logits[:, 1], "pos": logits[:, 2],
                          "label": [names[i] for i in labels]})  # fmt: skip
    named.to_json(tmp_path / "named.jsonl", orient="records", lines=True)
    pd.DataFrame({"logits": list(val_logits), "label": val_labels}).to_parquet(tmp_path / "val.parquet")
    np.savez(tmp_path / "val.npz", logits=val_logits, label=val_labels)
    np.savez(tmp_path / "test.npz", logits=logits, label=labels)
    np.savez(tmp_path / "ood.npz", logits=predictions(100, seed=3, scale=0)[0])
    for args in (
        ("named.jsonl", "--labels", "label", "--logits", "neg,neutral,pos"),  # string labels = column names
        ("test.npz", "--labels", "label", "--logits", "logits", "--val", "val.npz", "--ood", "ood.npz"),
    ):
        result = run(*args, "--out", "out", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "ece" in result.stdout.lower()
    assert "temperature *" in result.stdout  # the calibrator row, marked as the chosen one
    saved = json.loads((tmp_path / "out" / "calibration.json").read_text())
    fitted = TemperatureScaling().fit(val_logits, val_labels).temperature
    assert saved["calibrated"]["temperature"]["calibrator"]["state"]["temperature"] == pytest.approx(fitted)
    assert 0 <= saved["ood"]["ood"]["none"]["auroc"] <= 1 and saved["ood"]["ood"]["n"] == 100


def test_cli_errors_are_one_line(tmp_path):
    pd.DataFrame({"a": [0.2, 0.5], "b": [0.3, 0.5], "y": [0, 1]}).to_csv(tmp_path / "p.csv", index=False)
    for args, message in (
        (("--labels", "y", "--probs", "a,b"), "sums to 0.5); if these are logits or unnormalized scores, use --logits"),
        (("--labels", "gold", "--probs", "a,b"), "has no label column 'gold'"),
        (("--labels", "y", "--probs", "c"), "has no column 'c'"),
    ):
        result = run("p.csv", *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_cli_compares_every_calibrator_and_writes_their_probabilities(tmp_path):
    logits, labels = predictions(600, seed=4, scale=3)
    val_logits, val_labels = predictions(600, seed=5, scale=3)
    np.savez(tmp_path / "val.npz", logits=val_logits, label=val_labels)
    np.savez(tmp_path / "test.npz", logits=logits, label=labels)
    result = run("test.npz", "--labels", "label", "--logits", "logits", "--val", "val.npz", "--calibrators", "all",
                 "--out", "out", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()}
    three_class = {cls.name for cls in BUILT_IN if not cls.binary_only}  # the CLI process: the built-ins
    assert three_class <= rows and "platt" not in rows  # binary-only calibrators are left out for K = 3
    saved = json.loads((tmp_path / "out" / "calibration.json").read_text())
    chosen = saved["calibrator_choice"]["chosen"]
    assert set(saved["calibrated"]) == three_class and chosen in three_class
    assert chosen == min(saved["calibrated"], key=lambda n: saved["calibrated"][n]["crossfit_val"]["nll"])
    for name in three_class:
        with np.load(tmp_path / "out" / f"calibrated_{name}.npz") as data:
            report = calibration_report(data["probs"], data["labels"])
        assert report["nll"] == pytest.approx(saved["calibrated"][name]["test"]["nll"])
        assert (tmp_path / "out" / f"reliability_{name}.png").stat().st_size > 5000
    # smooth and debiased ECE and the noise floors of ECE and smooth ECE beside each row
    header = result.stdout.splitlines()[0]
    assert all(h in header for h in ("smooth ECE %", "debiased L2-ECE %", "ECE floor %", "smECE floor %"))
    floor = saved["calibrated"][chosen]["floor"]["ece"]
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"{chosen} *"))
    assert (
        f"{100 * floor['mean']:.2f} ({100 * floor['p95']:.2f})" in row
        and "floor: mean (95th percentile)" in result.stdout
    )
    for bins, message in (("0", "--bins 0 is out of range"), ("100000000", "--bins 100000000 is out of range")):
        refused = run("test.npz", "--labels", "label", "--logits", "logits", "--bins", bins, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr


def test_calibrate_reports_conformal_sets_before_and_after_calibration(tmp_path):
    logits, labels = predictions(2000, seed=6, scale=3)
    val_logits, val_labels = predictions(2000, seed=7, scale=3)
    report = textmix.calibrate(logits, labels, kind="logits", val=(val_logits, val_labels), conformal=[0.1, 0.05],
                               conformal_methods=["lac", "aps"], bootstrap_resamples=200)  # fmt: skip
    assert set(report.conformal) == {"0.1", "0.05"}
    for alpha, methods in report.conformal.items():
        for method, by_probs in methods.items():
            assert set(by_probs) == {"none", "temperature"}
            for metrics in by_probs.values():  # exchangeable synthetic data: at least 1 − α (up to noise)
                assert metrics["coverage"] >= 1 - float(alpha) - 0.015, (alpha, method, metrics["coverage"])
                if method == "lac":  # a continuous score: also at most 1 − α + 1/(n+1), up to noise
                    assert metrics["coverage"] <= 1 - float(alpha) + 0.02, (alpha, metrics["coverage"])
    lac = report.conformal["0.1"]["lac"]["none"]  # by hand: 1 − p_y threshold from the validation split
    p_val, p_test = softmax(val_logits), softmax(logits)
    scores = np.sort(1 - p_val[np.arange(2000), val_labels])
    q = scores[int(np.ceil(2001 * 0.9)) - 1]
    assert lac["mean_size"] == pytest.approx((1 - p_test <= q).sum(1).mean())
    np.savez(tmp_path / "val.npz", logits=val_logits, label=val_labels)
    np.savez(tmp_path / "test.npz", logits=logits, label=labels)
    result = run("test.npz", "--labels", "label", "--logits", "logits", "--val", "val.npz", "--conformal", "0.1",
                 "--out", "out", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "coverage %" in result.stdout and " lac " in result.stdout  # LAC by default
    assert " raps " not in result.stdout
    assert "0.1" in json.loads((tmp_path / "out" / "calibration.json").read_text())["conformal"]["results"]
    refused = run("test.npz", "--labels", "label", "--logits", "logits", "--conformal", "0.1", cwd=tmp_path)
    assert refused.returncode == 2 and "need a calibration split: give val (--val)" in refused.stderr


def test_what_cannot_be_right_in_a_predictions_file_is_refused(tmp_path):
    """A glob never takes the label column; probabilities given as logits, a malformed val and
    bfloat16 scores are handled in one line or accepted as they should be."""
    logits, labels = predictions(300, seed=8)
    frame = pd.DataFrame({"logit_a": logits[:, 0], "logit_b": logits[:, 1], "logit_c": logits[:, 2], "logit_y": labels})
    frame.to_csv(tmp_path / "p.csv", index=False)
    result = run("p.csv", "--labels", "logit_y", "--logits", "logit_*", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "p_calibration" / "calibration.json").read_text())
    assert saved["test"]["accuracy"] == pytest.approx(calibration_report(softmax(logits), labels)["accuracy"])
    refused = run("p.csv", "--labels", "logit_y", "--logits", "logit_a,logit_b,logit_y", cwd=tmp_path)
    assert refused.returncode == 2 and "is the label column; it cannot also be a score column" in refused.stderr
    with pytest.raises(
        ArgumentError, match="every row is a probability vector summing to 1; pass them as probabilities"
    ):
        textmix.calibrate(softmax(logits), labels, kind="logits")
    with pytest.raises(ArgumentError, match="val must be a pair"):
        textmix.calibrate(logits, labels, kind="logits", val=(logits,))
    bf16 = torch.tensor(logits).bfloat16()
    report = textmix.calibrate(bf16, labels, kind="logits", val=(bf16, labels), bootstrap_resamples=0)
    assert report.calibrator.temperature > 0


def test_bootstrap_intervals_beyond_the_draw_budget_are_skipped_with_a_notice(monkeypatch, caplog):
    """N × resamples past MAX_BOOTSTRAP_DRAWS would take minutes (10 million rows × 1,000): the report
    says so and has no intervals, instead of hanging; within the budget they are computed."""
    import textmix.core.prediction_report as prediction_report

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(500, 3)), rng.integers(0, 3, 500)
    monkeypatch.setattr(prediction_report, "MAX_BOOTSTRAP_DRAWS", 500 * 100)
    within = prediction_report.calibrate(logits, labels, kind="logits", bootstrap_resamples=100)
    assert set(within.intervals) == {"accuracy", "ece", "oe", "aurc"}
    with caplog.at_level("WARNING"):
        beyond = prediction_report.calibrate(logits, labels, kind="logits", bootstrap_resamples=101)
    assert beyond.intervals == {} and "no bootstrap intervals for 500 examples × 101 resamples" in caplog.text


def test_the_noise_floor_is_skipped_with_a_notice_where_it_would_be_slow(monkeypatch, caplog):
    """Draws × examples past noise_floor.MAX_TOTAL get fewer draws, then none (with a notice)."""
    import textmix.core.noise_floor as noise_floor
    import textmix.core.prediction_report as prediction_report

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(500, 3)), rng.integers(0, 3, 500)
    monkeypatch.setattr(noise_floor, "MAX_TOTAL", 500 * 150)
    fewer = prediction_report.calibrate(logits, labels, kind="logits", bootstrap_resamples=0)
    assert set(fewer.assessment.block("none").floor) == {"ece", "adaptive_ece", "debiased_ece", "smooth_ece"}
    monkeypatch.setattr(noise_floor, "MAX_TOTAL", 500 * 99)
    with caplog.at_level("WARNING"):
        none = prediction_report.calibrate(logits, labels, kind="logits", bootstrap_resamples=0)
    assert none.assessment.block("none").floor == {} and "no noise floor for 500 examples" in caplog.text
    assert "ECE floor %" in none.table() and "—" in none.table().splitlines()[1]


def test_calibrate_writes_each_examples_sets_by_class_name(tmp_path):
    """--sets: one row per test example, one column per method, α and probabilities, labels by the
    score columns' names; coverage and mean size read back from the file equal calibration.json's."""
    import csv

    logits, labels = predictions(600, seed=8)
    val_logits, val_labels = predictions(600, seed=9)
    names = ["abbr", "desc", "loc"]
    for file, (x, y) in (("test.csv", (logits, labels)), ("val.csv", (val_logits, val_labels))):
        with open(tmp_path / file, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*names, "label"])
            writer.writerows([*row, names[t]] for row, t in zip(x, y))
    columns = ",".join(names)
    result = run("test.csv", "--labels", "label", "--logits", columns, "--val", "val.csv", "--conformal", "0.1",
                 "--conformal-methods", "lac,aps", "--sets", "sets.csv", "--out", "out", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "sets.csv").read_text().splitlines()))
    assert len(rows) == 600 and [r["label"] for r in rows] == [names[t] for t in labels]
    measured = json.loads((tmp_path / "out" / "calibration.json").read_text())["conformal"]["results"]["0.1"]
    for method in ("lac", "aps"):
        for source in ("none", "temperature"):
            sets = [r[f"{method} alpha=0.1 {source}"].split("|") if r[f"{method} alpha=0.1 {source}"] else []
                    for r in rows]  # fmt: skip
            assert np.mean([r["label"] in s for r, s in zip(rows, sets)]) == pytest.approx(
                measured[method][source]["coverage"]
            )
            assert np.mean([len(s) for s in sets]) == pytest.approx(measured[method][source]["mean_size"])
    refused = run("test.csv", "--labels", "label", "--logits", ",".join(names), "--val", "val.csv", "--sets", "s.csv",
                  cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "--sets writes conformal sets: give --conformal ALPHAS too" in refused.stderr
