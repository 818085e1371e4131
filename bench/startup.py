"""How long the command line takes to start: ``textmix --help``, ``calibrate --help`` and
``predict --help``, a cold ``textmix predict`` of one text on a Kim CNN trained like the main job,
against ``python -c "import torch"`` (the floor of any command that runs a model), and a cold
``textmix calibrate`` of that model's 1,066 MR test predictions with temperature scaling fitted on
its 1,066 validation ones, against a scikit-learn script doing the same temperature scaling
(``CalibratedClassifierCV(method="temperature")`` on the frozen logits, then accuracy, NLL, Brier
and 15-bin ECE), all in the same run.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.startup [--run runs/mr_kim_cnn_mixup] [--repeats 5]

Without ``--run`` (or when it does not exist) the main job's recipe is trained for one epoch into a
temporary folder: the same vocabulary and model size as the main job's model. Medians of
``--repeats`` fresh processes each. Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import main_job_run, write_result


def seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# The reference for a cold `textmix calibrate`: temperature scaling in scikit-learn on the same files.
SKLEARN_TEMPERATURE = """
import sys
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss

class Logits(ClassifierMixin, BaseEstimator):  # a fitted model whose decision values are the logits
    def fit(self, X, y):
        self.classes_ = np.arange(X.shape[1])
        return self
    def decision_function(self, X):  # two classes: the margin, as scikit-learn expects (same softmax)
        return X[:, 1] - X[:, 0] if X.shape[1] == 2 else X
    def predict(self, X):
        return X.argmax(1)

val, test = np.load(sys.argv[1]), np.load(sys.argv[2])
model = Logits().fit(val["logits"], val["labels"])
calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature").fit(val["logits"], val["labels"])
p, y = calibrated.predict_proba(test["logits"]), test["labels"]
confidence, correct = p.max(1), p.argmax(1) == y
bins = np.minimum((confidence * 15).astype(int), 14)
ece = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
          for b in range(15) if (bins == b).any())
print(correct.mean(), log_loss(y, p), brier_score_loss(y, p[:, 1]), ece)
"""


def calibrate_commands(run: Path, folder: Path) -> tuple[list[str], list[str]]:
    """(textmix calibrate, the scikit-learn script) on the run's validation and test predictions."""
    import numpy as np

    from textmix.engine.run_directory import RunDir

    saved = np.load(run / RunDir.PREDICTIONS)
    for split in ("val", "test"):
        np.savez(folder / f"{split}.npz", logits=saved[f"{split}_logits"], labels=saved[f"{split}_labels"])
    val, test = str(folder / "val.npz"), str(folder / "test.npz")
    textmix = [sys.executable, "-m", "textmix.cli", "calibrate", test, "--val", val, "--logits", "logits",
               "--labels", "labels", "--out", str(folder / "out")]  # fmt: skip
    return textmix, [sys.executable, "-c", SKLEARN_TEMPERATURE, val, test]


def measure(run: Path, folder: Path, repeats: int) -> dict:
    python, textmix = [sys.executable], [sys.executable, "-m", "textmix.cli"]
    calibrate, sklearn_script = calibrate_commands(run, folder)
    rows = {
        "import_torch": seconds([*python, "-c", "import torch"], repeats),
        "textmix_help": seconds([*textmix, "--help"], repeats),
        "calibrate_help": seconds([*textmix, "calibrate", "--help"], repeats),
        "predict_help": seconds([*textmix, "predict", "--help"], repeats),
        "textmix_predict": seconds([*textmix, "predict", str(run), "a gripping, funny film"], repeats),
        "textmix_calibrate": seconds(calibrate, repeats),
        "sklearn_temperature": seconds(sklearn_script, repeats),
    }
    for name, value in rows.items():
        print(f"{name:20s} {value:.2f} s")
    print(f"predict beyond import torch: {rows['textmix_predict'] - rows['import_torch']:.2f} s")
    print(f"calibrate / scikit-learn script: {rows['textmix_calibrate'] / rows['sklearn_temperature']:.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mr_kim_cnn_mixup")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = main_job_run(args.run, folder)
        rows = measure(run, Path(folder), args.repeats)
    write_result("startup", {"repeats": args.repeats, **rows})


if __name__ == "__main__":
    main()
