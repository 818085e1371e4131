"""textmix sweep (grid × seeds, skip finished) and textmix report (tables, figures, aggregate)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from textmix.core.errors import RecipeError, RunDirError
from textmix.engine.report import report
from textmix.engine.report.simulate import mixed_label_entropy
from textmix.engine.sweep import parse_grid, parse_seeds, plan_sweep, sweep

RECIPE = {
    "method": "mixup",
    "data": {"name": "mr", "max_train_examples": 200},
    "model": {"num_filters": 4},
    "train": {"epochs": 2, "batch_size": 50},
    "eval": {"ood": ["random_tokens"], "mc_dropout_samples": 2},
}


def test_grid_parsing_and_validation(tmp_path):
    assert parse_grid(["mixup.alpha=0.1,0.4", "method=baseline,mixup"]) == {
        "mixup.alpha": [0.1, 0.4],
        "method": ["baseline", "mixup"],
    }
    assert parse_seeds("1,2,3") == [1, 2, 3]
    for bad in (["mixup.alpha"], ["a=1", "a=2"]):
        with pytest.raises(RecipeError):
            parse_grid(bad)
    with pytest.raises(RecipeError, match="distinct integers"):
        parse_seeds("1,1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    with pytest.raises(RecipeError, match="mixup.alpha=-1.0 is invalid"):  # checked before any training
        plan_sweep(recipe, {"mixup.alpha": [0.2, -1]}, [1], [], tmp_path / "out")
    runs = plan_sweep(recipe, {"mixup.alpha": [0.2, 1.0]}, [1, 2], [], tmp_path / "out")
    assert [r.run_dir.name for r in runs] == [
        "alpha=0.2_seed=1",
        "alpha=0.2_seed=2",
        "alpha=1.0_seed=1",
        "alpha=1.0_seed=2",
    ]
    assert [(r.recipe.mixup.alpha, r.recipe.train.seed) for r in runs] == [(0.2, 1), (0.2, 2), (1.0, 1), (1.0, 2)]


def test_sweep_skips_finished_runs_and_report_aggregates(real_data, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "sweep"
    first = sweep(recipe, {"mixup.alpha": [0.2, 1.0]}, [1, 2], [], out)
    assert [row["status"] for row in first] == ["trained"] * 4
    again = sweep(recipe, {"mixup.alpha": [0.2, 1.0]}, [1, 2], [], out)
    assert [row["status"] for row in again] == ["skipped (finished)"] * 4
    assert [row["test_ece"] for row in again] == [row["test_ece"] for row in first]
    sweep(recipe, {"method": ["baseline"]}, [1, 2], [], out)

    aggregate = report(sorted(out.iterdir()), tmp_path / "report")
    files = {p.name for p in (tmp_path / "report").iterdir()}
    assert {
        "README.md",
        "results.json",
        "metrics_by_method.png",
        "reliability_mr_kim_cnn.png",
        "alpha_mr_kim_cnn.png",
        "label_entropy_mr_kim_cnn.png",
        "ood_mr_kim_cnn.png",
        "joint_density_mr_kim_cnn.png",
        "curves_mr_kim_cnn.png",
        "risk_coverage_mr_kim_cnn.png",
        "adaptive_reliability_mr_kim_cnn.png",
    } <= files
    settings = [g["setting"] for g in aggregate["groups"]]
    assert settings == ["baseline", "mixup α=0.2", "mixup α=1"]
    eces = [json.loads((out / f"alpha=0.2_seed={s}" / "metrics.json").read_text())["test"]["ece"] for s in (1, 2)]
    group = aggregate["groups"][1]
    assert group["seeds"] == 2
    assert group["test"]["ece"]["mean"] == pytest.approx(np.mean(eces))
    assert group["test"]["ece"]["std"] == pytest.approx(np.std(eces, ddof=1))
    table = (tmp_path / "report" / "README.md").read_text()
    assert "| mixup α=0.2 | 2 | " in table and f"{100 * np.mean(eces):.2f} ± {100 * np.std(eces, ddof=1):.2f}" in table
    aurocs = [
        json.loads((out / f"method=baseline_seed={s}" / "metrics.json").read_text())["ood"]["random_tokens"][
            "mc_dropout"
        ]["auroc"]
        for s in (1, 2)
    ]

    # paired comparison against the baseline: the mean difference over the same seeds; two seeds are too few
    # for an interval (a t-interval over 2 values spans ±12.7 standard errors and leaves the metric's range)
    def test_metric(name, key):
        return np.array(
            [json.loads((out / f"{name}_seed={s}" / "metrics.json").read_text())["test"][key] for s in (1, 2)]
        )

    diff = test_metric("alpha=0.2", "ece") - test_metric("method=baseline", "ece")
    rows = table.split("### Against the baseline")[1].splitlines()
    paired = next(line for line in rows if line.startswith("| mr / kim_cnn | mixup α=0.2 | 2 | "))
    assert f"| {100 * diff.mean():+.2f} (too few seeds) |" in paired and "resolved" not in paired
    assert "### 95% intervals" in table and "### Against the baseline" in table
    intervals = table.split("### 95% intervals")[1].split("###")[0]
    assert "| mr / kim_cnn | mixup α=0.2 | 2 | too few seeds | too few seeds |" in intervals
    bounds = [float(x) for x in re.findall(r"\[(-?[0-9.]+), (-?[0-9.]+)\]", table) for x in x]
    assert all(-100 <= b <= 100 for b in bounds)  # no interval leaves its range (differences: ±100)
    ood_row = next(line for line in table.splitlines() if line.startswith("| mr / kim_cnn | baseline | random_tokens"))
    assert ood_row.endswith(f"| {100 * np.mean(aurocs):.2f} ± {100 * np.std(aurocs, ddof=1):.2f} |")

    chosen = report(sorted(out.iterdir()), tmp_path / "chosen", figure_kinds=["ood", "reliability"])
    assert sorted(chosen["figures"]) == ["ood_mr_kim_cnn.png", "reliability_mr_kim_cnn.png"]
    assert {p.name for p in (tmp_path / "chosen").glob("*.png")} == set(chosen["figures"])
    with pytest.raises(RecipeError, match=r"unknown figure kind\(s\) \['oods'\]; choose from metrics_by_method"):
        report(sorted(out.iterdir()), tmp_path / "bad", figure_kinds=["oods"])

    whole = report([out], tmp_path / "whole", figure_kinds=[])  # a sweep folder stands for its runs
    assert whole["groups"] == aggregate["groups"]
    unfinished = out / "alpha=2.0_seed=1"
    unfinished.mkdir()
    (unfinished / "recipe.yaml").write_text((out / "alpha=1.0_seed=1" / "recipe.yaml").read_text())
    with pytest.raises(RunDirError, match=r"sweep folder .* has unfinished runs \['alpha=2.0_seed=1'\]"):
        report([out], tmp_path / "half")
    with pytest.raises(RunDirError, match="is neither a finished run"):
        report([tmp_path / "report"], tmp_path / "nothing")
    unfinished.joinpath("recipe.yaml").unlink()
    unfinished.rmdir()

    longer = out / "alpha=1.0_seed=3"  # the same setting trained longer is another experiment, not a seed
    longer.mkdir()
    shutil.copy(out / "alpha=1.0_seed=1" / "metrics.json", longer)
    recipe = yaml.safe_load((out / "alpha=1.0_seed=1" / "recipe.yaml").read_text())
    recipe["train"].update(seed=3, epochs=5)
    (longer / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(
        RecipeError, match=r"both 'mixup α=1' on mr / kim_cnn but their recipes differ in train.epochs;"
    ):
        report([out], tmp_path / "mixed")
    recipe["train"]["epochs"] = 2  # only the seed differs: a repetition
    (longer / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert report([out], tmp_path / "three", figure_kinds=[])["groups"][2]["seeds"] == 3
    shutil.rmtree(longer)

    report([out / "alpha=1.0_seed=1"], tmp_path / "one_seed", figure_kinds=[])
    accuracy = json.loads((out / "alpha=1.0_seed=1" / "metrics.json").read_text())["test"]["accuracy"]
    one_seed_table = (tmp_path / "one_seed" / "README.md").read_text()
    assert f"| mixup α=1 | 1 | {100 * accuracy:.2f} | " in one_seed_table  # no "± 0.00" for one seed
    assert "±" not in one_seed_table.split("| mixup α=1 | 1 |")[1].splitlines()[0]


def test_mixed_label_entropy_matches_hand_computed_cases():
    assert np.all(mixed_label_entropy([300, 0], alpha=1.0, batch_size=50, draws=1000) == 0)  # one class
    # λ ≈ 0.5 (α large): a pair of different labels has entropy ln 2, a pair of equal labels 0
    h = mixed_label_entropy([5000, 5000], alpha=1e4, batch_size=100, draws=20_000)
    assert np.all((h < 1e-6) | (np.abs(h - np.log(2)) < 1e-3))
    assert np.mean(h > 0.5) == pytest.approx(0.5, abs=0.02)
    # α small: λ near 0 or 1, so most mixed labels are nearly pure
    assert mixed_label_entropy([5000, 5000], alpha=0.1, batch_size=100).mean() < 0.5 * h.mean()


def test_a_parallel_sweep_gives_the_sequential_numbers_and_resumes(real_data, tmp_path):
    """--jobs 2 runs two `textmix train` processes with one thread each: the same metrics as a
    sequential sweep on one thread; run again, it trains nothing."""
    import os
    import subprocess
    import sys

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "train": {**RECIPE["train"], "epochs": 1}}))

    def run_sweep(out, jobs, threads):
        command = [sys.executable, "-m", "textmix.cli", "sweep", str(recipe), "--seeds", "1,2", "--out", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        result = subprocess.run([*command, "--jobs", str(jobs)], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    run_sweep(tmp_path / "sequential", 1, 1)
    assert "2 to train, 2 at a time, 1 thread(s) each" in run_sweep(tmp_path / "parallel", 2, 2)
    for seed in (1, 2):
        a, b = (
            json.loads((tmp_path / side / f"seed={seed}" / "metrics.json").read_text())
            for side in ("sequential", "parallel")
        )
        assert {**a, "timing": None} == {**b, "timing": None}
    assert "2 of 2 runs finished earlier; 0 to train" in run_sweep(tmp_path / "parallel", 2, 2)


def test_sweep_on_the_toy_task_skips_resumes_and_runs_jobs_in_parallel(tmp_path, monkeypatch):
    """The engine's sweep without a data folder: sequential in this process, then ``--jobs 2`` in
    subprocesses that find the toy task through its entry point, with the same numbers."""
    import torch
    from toy_task import TOY, plugin_env

    from textmix.core.errors import TrainingInterrupted

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    grid, seeds = {"mixup.alpha": [0.2, 1.0]}, [1, 2]
    threads = torch.get_num_threads()
    # the same thread count as each of the two parallel runs gets on this machine's cores: torch's
    # reductions sum in an order that depends on it (the README's promise is for equal counts)
    torch.set_num_threads(max(1, threads // 2))
    try:
        monkeypatch.setenv("TOY_SIGTERM_AT_STEP", "20")  # the first run stops in its second epoch
        with pytest.raises(TrainingInterrupted):
            sweep(recipe, grid, seeds, [], tmp_path / "sequential")
        monkeypatch.delenv("TOY_SIGTERM_AT_STEP")
        first = sweep(recipe, grid, seeds, [], tmp_path / "sequential")
        again = sweep(recipe, grid, seeds, [], tmp_path / "sequential")
    finally:
        torch.set_num_threads(threads)
    assert [row["status"] for row in first] == ["resumed", "trained", "trained", "trained"]
    assert [row["status"] for row in again] == ["skipped (finished)"] * 4
    monkeypatch.setenv("PYTHONPATH", plugin_env(tmp_path / "plugin")["PYTHONPATH"])
    parallel = sweep(recipe, grid, seeds, [], tmp_path / "parallel", jobs=2)
    assert [row["status"] for row in parallel] == ["trained"] * 4
    for row_a, row_b in zip(first, parallel):
        a = json.loads((Path(row_a["run"]) / "metrics.json").read_text())
        b = json.loads((Path(row_b["run"]) / "metrics.json").read_text())
        assert {**a, "timing": None} == {**b, "timing": None}, row_a["run"]


def test_report_compares_post_hoc_calibrators_per_method(tmp_path):
    """Runs that fit several calibrators: a table per setting and calibrator (ECE, NLL, Brier, how
    often each was chosen) and a figure; the values are the runs' own metrics."""
    from toy_task import TOY

    recipe = tmp_path / "toy.yaml"
    calibrators = ["temperature", "vector", "isotonic"]
    recipe.write_text(yaml.safe_dump({**TOY, "eval": {**TOY["eval"], "calibrators": calibrators}}))
    out = tmp_path / "sweep"
    sweep(recipe, {"method": ["baseline", "mixup"]}, [1, 2], [], out)
    aggregate = report(sorted(out.iterdir()), tmp_path / "report")
    assert "calibrators_blobs_mlp.png" in aggregate["figures"]
    text = (tmp_path / "report" / "README.md").read_text()
    assert "### Post-hoc calibrators" in text
    first = json.loads((out / "method=baseline_seed=1" / "metrics.json").read_text())
    second = json.loads((out / "method=baseline_seed=2" / "metrics.json").read_text())
    ece = np.array([first["calibrated"]["vector"]["test"]["ece"], second["calibrated"]["vector"]["test"]["ece"]])
    row = next(line for line in text.splitlines() if "| baseline | vector |" in line)
    assert f"{100 * ece.mean():.2f} ± {100 * ece.std(ddof=1):.2f}" in row
    assert first["calibrator_choice"]["chosen"] in calibrators


def test_report_tables_and_draws_conformal_sets(tmp_path):
    from toy_task import TOY

    recipe = tmp_path / "toy.yaml"
    conformal = {"alpha": [0.1], "methods": ["lac", "aps"], "split": 0.3}
    recipe.write_text(yaml.safe_dump({**TOY, "eval": {**TOY["eval"], "conformal": conformal}}))
    out = tmp_path / "sweep"
    sweep(recipe, {"method": ["baseline", "mixup"]}, [1, 2], [], out)
    aggregate = report(sorted(out.iterdir()), tmp_path / "report")
    assert "conformal_blobs_mlp.png" in aggregate["figures"]
    text = (tmp_path / "report" / "README.md").read_text()
    runs = [json.loads((out / f"method=mixup_seed={s}" / "metrics.json").read_text()) for s in (1, 2)]
    sizes = np.array([r["conformal"]["results"]["0.1"]["aps"]["temperature"]["mean_size"] for r in runs])
    row = next(line for line in text.splitlines() if "| mixup α=0.4 | 0.1 | aps | temperature |" in line)
    assert f"{sizes.mean():.2f} ± {sizes.std(ddof=1):.2f}" in row


def test_report_counts_seeds_not_folders(tmp_path):
    """The same run named twice (or with a trailing slash) counts once; a copied run directory with
    the same seed is refused; a hand-edited NaN or string in metrics.json is named."""
    from toy_task import TOY

    from textmix.core.errors import RunDirError

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    out = tmp_path / "sweep"
    sweep(recipe, {"method": ["baseline"]}, [1, 2], [], out)
    run = out / "method=baseline_seed=1"
    aggregate = report([run, Path(f"{run}/"), out / "method=baseline_seed=2"], tmp_path / "report")
    assert [g["seeds"] for g in aggregate["groups"]] == [2]
    shutil.copytree(run, tmp_path / "copy")
    with pytest.raises(RecipeError, match="are the same setting, seed 1 and split seed 0 \\(a copy\\?\\)"):
        report([run, tmp_path / "copy"], tmp_path / "report2")
    for value in (float("nan"), "high"):
        metrics = json.loads((tmp_path / "copy" / "metrics.json").read_text())
        metrics["test"]["ece"] = value
        (tmp_path / "copy" / "metrics.json").write_text(json.dumps(metrics))
        with pytest.raises(RunDirError, match="field test.ece is .* not a number"):
            report([tmp_path / "copy"], tmp_path / "report3")


def test_local_sweeps_pin_each_run_to_the_least_busy_gpu_and_dry_run_shows_where(tmp_path, monkeypatch):
    """With GPUs 0 and 1 and --jobs 3, runs go 0, 1, 0 (round-robin, shared when jobs > GPUs), a run
    that ends frees its GPU for the next, and the child process sees only its GPU."""
    import subprocess as sp

    from toy_task import TOY

    import textmix.engine.launchers as launchers
    from textmix.engine.sweep import plan_sweep

    pool = launchers.GpuPool(["0", "1"])
    assert [pool.acquire() for _ in range(3)] == ["0", "1", "0"]
    pool.release("1")
    assert pool.acquire() == "1" and launchers.GpuPool([]).acquire() is None

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert launchers.visible_gpus() == ["0", "1"]
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    rows = sweep(recipe, {"mixup.alpha": [0.1, 0.2, 0.4]}, [1], [], tmp_path / "out", dry_run=True, jobs=3)
    assert [row["where"].rsplit("GPU ", 1)[1] for row in rows] == ["0 (first wave)", "1 (first wave)", "0 (first wave)"]
    assert all(row["status"] == "would be trained" for row in rows)

    seen = {}
    monkeypatch.setattr(sp, "run", lambda command, **kw: seen.update(kw["env"]) or sp.CompletedProcess(command, 0))
    planned = plan_sweep(recipe, {}, [1], [], tmp_path / "out")[0]
    assert launchers.train_in_subprocess(recipe, planned, 1, False, launchers.GpuPool(["1"]))[0] == 0
    assert seen["CUDA_VISIBLE_DEVICES"] == "1" and seen["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launchers.visible_gpus() == []


def test_split_seeds_are_a_second_axis_of_repetition(tmp_path, capsys):
    """`sweep --split-seeds 1,2 --seeds 1,2`: each setting on two carved splits with two seeds; the
    report pairs runs by (seed, split seed) and splits the variance into its two sources."""
    from toy_task import TOY

    from textmix.cli import main
    from textmix.engine.sweep import with_split_seeds

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    out = tmp_path / "sweep"
    assert main(["sweep", str(recipe), "--grid", "method=baseline,mixup", "--seeds", "1,2", "--split-seeds", "1,2",
                 "--out", str(out)]) == 0  # fmt: skip
    names = sorted(p.name for p in out.iterdir())
    assert names[:4] == ["method=baseline_split_seed=1_seed=1", "method=baseline_split_seed=1_seed=2",
                         "method=baseline_split_seed=2_seed=1", "method=baseline_split_seed=2_seed=2"]  # fmt: skip
    aggregate = report([out], tmp_path / "report", figure_kinds=[])
    assert [g["seeds"] for g in aggregate["groups"]] == [4, 4]
    text = (tmp_path / "report" / "README.md").read_text()
    paired = next(line for line in text.split("### Against the baseline")[1].splitlines() if "| mixup" in line)
    assert paired.startswith("| blobs / mlp | mixup α=0.4 | 4 | ")

    def ece(name):
        return json.loads((out / name / "metrics.json").read_text())["test"]["ece"]

    diffs = [ece(f"method=mixup_split_seed={sp}_seed={s}") - ece(f"method=baseline_split_seed={sp}_seed={s}")
             for sp in (1, 2) for s in (1, 2)]  # fmt: skip
    assert f"| {100 * np.mean(diffs):+.2f} [" in paired
    variance = text.split("### Sources of variance")[1].split("###")[0]
    row = next(line for line in variance.splitlines() if "| baseline |" in line)
    table = np.array([[ece(f"method=baseline_split_seed={sp}_seed={s}") for s in (1, 2)] for sp in (1, 2)])
    within = np.sqrt(table.var(axis=1, ddof=1).mean())
    between = np.sqrt(max(table.mean(axis=1).var(ddof=1) - within**2 / 2, 0))
    assert "| 2 × 2 |" in row and f"{100 * within:.2f} / {100 * between:.2f} / {100 * table.std(ddof=1):.2f}" in row
    with pytest.raises(RecipeError, match="--split-seeds and --grid data.split_seed"):
        with_split_seeds({"data.split_seed": [1]}, "1,2")
    with pytest.raises(RecipeError, match="--split-seeds expects integers"):
        with_split_seeds({}, "1,x")


@pytest.mark.parametrize("grid", [{"mixup.alpha": [0.2, 0.2]}, {"train.output_dir": ["runs/a b", "runs/a_b"]}])
def test_two_grid_points_that_share_a_run_directory_are_refused(grid, tmp_path):
    """Repeated values, or values equal after the folder-name cleanup, would train two runs into
    one folder (at the same time with --jobs)."""
    from toy_task import TOY

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    with pytest.raises(RecipeError, match=r"would share the run directory .*seed=1"):
        plan_sweep(recipe, grid, [1], [], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "how",
    ["sequential", "jobs=2", "dry-run", pytest.param("slurm (submitit's local executor)", marks=pytest.mark.cluster)],
)
def test_a_sweep_folder_reused_with_another_recipe_is_refused_on_every_path(how, tmp_path, capsys):
    """The sequential path refused it when resuming; the parallel paths skipped the finished runs of
    the other recipe and reported them as this sweep's."""
    from toy_task import TOY

    from textmix.engine.launchers import ClusterOptions

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump({**TOY, "train": {**TOY["train"], "epochs": 1}}))
    sweep(recipe, {"mixup.alpha": [0.2]}, [1], [], tmp_path / "out")
    before = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    kwargs = {"sequential": {}, "jobs=2": {"jobs": 2}, "dry-run": {"dry_run": True},
              "slurm (submitit's local executor)": {"launcher": "slurm",
                                                    "cluster": ClusterOptions(slurm_cluster="local")}}[how]  # fmt: skip
    if how.startswith("slurm"):
        pytest.importorskip("submitit")
    with pytest.raises(RunDirError, match=r"was trained with another recipe \(it differs in optim.lr\)"):
        sweep(recipe, {"mixup.alpha": [0.2]}, [1], ["optim.lr=0.05"], tmp_path / "out", **kwargs)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == before


def test_a_report_names_two_custom_datasets_and_a_shift_file_by_their_names(real_data, tmp_path):
    """Runs on two custom files are two datasets (they were both "custom" and refused as one
    experiment), and a shifted set read from a file is titled by its name, not its full path."""
    import pandas as pd

    from textmix.engine import recipe_from_dict, train
    from textmix.engine.report import report

    lines = {}
    for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
        text = (real_data / "mr" / name).read_bytes().decode("cp1252", errors="replace")
        lines[label] = [line.strip() for line in text.splitlines() if line.strip()]
    data = tmp_path / "deep" / "folder"
    data.mkdir(parents=True)
    for k, name in enumerate(("short_reviews", "more_reviews", "held_out")):
        rows = [(t, y) for y in (0, 1) for t in lines[y][400 * k : 400 * k + 400]]
        pd.DataFrame(rows, columns=["text", "label"]).to_csv(data / f"{name}.csv", index=False)
    runs, quick = [], {"bootstrap_resamples": 0, "floor_draws": 0, "shift": [str(data / "held_out.csv")]}
    for name in ("short_reviews", "more_reviews"):
        recipe = {"data": {"name": "custom", "path": str(data / f"{name}.csv")}, "model": {"num_filters": 8},
                  "train": {"epochs": 1, "batch_size": 25, "log_with": []}, "eval": quick}  # fmt: skip
        train(recipe_from_dict(recipe), tmp_path / name)
        runs.append(tmp_path / name)
    report(runs, tmp_path / "report", figure_kinds=["metrics_by_method"])
    text = (tmp_path / "report" / "README.md").read_text()
    assert "### short_reviews / kim_cnn" in text and "### more_reviews / kim_cnn" in text
    assert "| held_out.csv |" in text and str(data) not in text


def test_seeds_saved_before_and_after_round_4_defaults_are_one_setting(small_mr_run, tmp_path):
    """A Kim CNN seed saved when model.pooling defaulted to mean and train.log_with did not exist,
    beside one saved today, are two seeds of one setting (neither key changes a Kim CNN's numbers)."""
    import shutil

    import yaml

    from textmix.engine.report.collect import collect

    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(small_mr_run, old)
    shutil.copytree(small_mr_run, new)
    recipe = yaml.safe_load((old / "recipe.yaml").read_text())
    recipe["model"]["pooling"], recipe["train"]["seed"] = "mean", 2
    del recipe["train"]["log_with"]
    (old / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (group,) = collect([old, new])
    assert len(group.runs) == 2
    recipe["model"]["num_filters"] = 1  # a key the model reads: two experiments, as before
    (old / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match="differ in model.num_filters"):
        collect([old, new])
