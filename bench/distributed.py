"""Distributed data parallel on CPU: 2 gloo processes vs 1 process, the same total batch.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.distributed [--epochs 2] [--repeats 2]

Kim CNN on MR with mixup: 1 process with batch 50 (``accelerate launch --num_processes 1``) vs 2
processes with batch 25 each (``accelerate launch --multi_gpu --num_processes 2``, which textmix
runs on CPU with gloo). Throughput = training examples / training wall time from the run's
``metrics.json`` ``timing`` (all processes' examples; evaluation not timed), median over epochs and
repetitions. Writes bench/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import spread, write_result

RECIPE = "recipes/mr/kim_cnn_mixup.yaml"


def launch(processes: int, epochs: int, out: Path) -> list[float]:
    batch = 50 // processes
    multi = ["--multi_gpu"] if processes > 1 else []
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *multi, "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "textmix.train", "--config", RECIPE, "--output-dir", str(out), "--overwrite",
        "--set", f"train.batch_size={batch}", "--set", f"train.epochs={epochs}",
        "--set", "eval.temperature_scaling=false",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True)
    timing = json.loads((out / "metrics.json").read_text())["timing"]
    return [t["examples_per_second"] for t in timing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rates = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for processes in (1, 2):
                rates[processes] += launch(processes, args.epochs, Path(tmp) / f"p{processes}_{r}")
    rows = [{"processes": p, "batch_per_process": 50 // p, "examples_per_second": spread(v)} for p, v in rates.items()]
    ratio = rows[1]["examples_per_second"]["median"] / rows[0]["examples_per_second"]["median"]
    for row in rows:
        print(
            f"{row['processes']} process(es), batch {row['batch_per_process']:2d} each: "
            f"{row['examples_per_second']['median']:8.1f} examples/s"
        )
    print(f"2-process / 1-process: {ratio:.2f}")
    write_result("distributed", {"epochs": args.epochs, "repeats": args.repeats, "rows": rows, "ratio_2_to_1": ratio})


if __name__ == "__main__":
    main()
