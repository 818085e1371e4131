"""How long the command line takes to start: ``textmix --help`` and a cold ``textmix predict`` of one
text on a Kim CNN trained like the main job, against ``python -c "import torch"`` (the floor of any
command that runs a model) in the same run.

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


def measure(run: Path, repeats: int) -> dict:
    python, textmix = [sys.executable], [sys.executable, "-m", "textmix.cli"]
    rows = {
        "import_torch": seconds([*python, "-c", "import torch"], repeats),
        "textmix_help": seconds([*textmix, "--help"], repeats),
        "textmix_predict": seconds([*textmix, "predict", str(run), "a gripping, funny film"], repeats),
    }
    for name, value in rows.items():
        print(f"{name:16s} {value:.2f} s")
    print(f"predict beyond import torch: {rows['textmix_predict'] - rows['import_torch']:.2f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mr_kim_cnn_mixup")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = main_job_run(args.run, folder)
        rows = measure(run, args.repeats)
    write_result("startup", {"repeats": args.repeats, **rows})


if __name__ == "__main__":
    main()
