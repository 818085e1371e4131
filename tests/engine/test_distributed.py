"""Two gloo processes on CPU (accelerate launch --multi_gpu --num_processes 2)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.distributed

RECIPE = {
    "method": "mixup",
    "data": {"name": "mr", "max_train_examples": 300},
    "model": {"num_filters": 8},
    "train": {"epochs": 1, "batch_size": 25, "eval_batch_size": 100},
    "eval": {"ood": ["random_tokens"]},
}


def launch(*args, processes=2):
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--multi_gpu", "--num_processes", str(processes)] if processes > 1 else ["--num_processes", "1"]
    # pinned to the CPU: on a machine with one GPU two processes would otherwise both claim it
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([*command, "-m", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_two_process_training_and_evaluation_match_one_process(real_data, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    run = tmp_path / "run"
    result = launch("textmix.train", "--config", str(recipe), "--output-dir", str(run))
    assert result.stdout.count("test accuracy") == 1  # printed by the main process only
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["test"]["n"] == 1066 and trained["val"]["n"] == 1066  # every example exactly once
    assert trained["ood"]["random_tokens"]["n"] == 1066

    launch("textmix.cli", "evaluate", str(run), processes=1)
    one = json.loads((run / "evaluation.json").read_text())
    shutil.move(run / "evaluation.json", tmp_path / "one.json")
    launch("textmix.cli", "evaluate", str(run), processes=2)
    two = json.loads((run / "evaluation.json").read_text())
    for split in ("val", "test"):
        assert one[split]["n"] == two[split]["n"] == 1066
        assert two[split] == pytest.approx(one[split], abs=1e-9)
        assert trained[split] == pytest.approx(one[split], abs=1e-9)
    temperature = [m["calibrated"]["temperature"]["calibrator"]["state"]["temperature"] for m in (one, two)]
    assert temperature[1] == pytest.approx(temperature[0], rel=1e-6)
    assert two["ood"]["random_tokens"]["none"]["auroc"] == pytest.approx(one["ood"]["random_tokens"]["none"]["auroc"])


def test_two_machines_give_the_metrics_of_two_processes_on_one(real_data, tmp_path):
    """recipes/accelerate/cpu_2machines.yaml: two "machines" (one process each, machine ranks 0 and 1,
    rendezvous at 127.0.0.1) train the same ranks as a 2-process single-machine run, so the test
    metrics are the same; the run directory is the one path both see."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "eval": {"ood": [], "bootstrap_resamples": 0}}))
    single = tmp_path / "single"
    launch("textmix.train", "--config", str(recipe), "--output-dir", str(single))
    accelerate = Path(sys.executable).with_name("accelerate")
    config = Path(__file__).resolve().parents[2] / "recipes" / "accelerate" / "cpu_2machines.yaml"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    nodes = [
        subprocess.Popen(
            [
                str(accelerate),
                "launch",
                "--config_file",
                str(config),
                "--machine_rank",
                str(rank),
                "--main_process_port",
                "29517",
                "-m",
                "textmix.train",
                "--config",
                str(recipe),
                "--output-dir",
                str(tmp_path / "two_machines"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err[-3000:] for _, err in outputs]
    two = json.loads((tmp_path / "two_machines" / "metrics.json").read_text())
    one = json.loads((single / "metrics.json").read_text())
    for split in ("val", "test"):
        assert two[split]["n"] == 1066 and two[split] == pytest.approx(one[split], abs=1e-9)
    for epoch_two, epoch_one in zip(two["history"], one["history"], strict=True):
        assert epoch_two == pytest.approx(epoch_one, abs=1e-9)
