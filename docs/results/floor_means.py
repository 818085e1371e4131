"""The mean noise floor of test ECE over a study's runs, uncalibrated and after temperature (and on
IMDB for MR), as quoted in docs/results/README.md and the README headline:

    python docs/results/floor_means.py runs/study_measured
    python docs/results/floor_means.py runs/study_minilm      # MR only: a dataset without runs is skipped
"""

import json
import sys
from pathlib import Path

import numpy as np


def floors(runs: list[Path], source: str, shifted: str | None = None) -> tuple[float, float]:
    values = []
    for path in runs:
        m = json.loads(path.read_text())
        block = m["shift"][shifted] if shifted else m
        if source != "none":
            floor = block["calibrated"][source]["floor"]
        else:
            floor = block["floor"] if shifted else block["floor"]["test"]
        values.append((floor["ece"]["mean"], floor["ece"]["p95"]))
    return tuple(100 * np.mean(values, axis=0))


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study_measured")
    for ds in ("mr", "trec"):
        runs = sorted(root.glob(f"{ds}/*/*/metrics.json"))
        if not runs:
            continue
        for source in ("none", "temperature"):
            line = f"{ds} {source}: ECE floor mean %.2f%%, p95 %.2f%%" % floors(runs, source)
            if ds == "mr":
                line += "; imdb: mean {:.2f}%, p95 {:.2f}%".format(*floors(runs, source, "imdb"))
            print(line)
