"""Trustworthy runs (docs/reliability.md): every promise there has its probe here, on real files and,
where the user meets it, through the real CLI in a subprocess (one line, exit 2, no traceback)."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from toy_task import TOY, plugin_env

import textmix.engine.checkpoint as checkpoint_module
import textmix.engine.training as engine_run
from textmix.core.errors import ArgumentError, RunDirError, TrainingInterrupted
from textmix.engine import RunDir, train
from textmix.engine.recipe import recipe_from_dict

# run-directory promises are the engine's: most probes train the in-memory toy task (the CLI in a
# subprocess finds it through a plugin entry point); text-only promises use a small MR recipe
SMALL = TOY
SMALL_TEXT = {
    "method": "mixup",
    "data": {"name": "mr", "max_train_examples": 300},
    "model": {"num_filters": 8},
    "train": {"epochs": 2, "batch_size": 25, "log_every": 4},
}


def recipe_file(folder: Path, base: dict = SMALL, **changes) -> Path:
    values = json.loads(json.dumps(base))
    for section, value in changes.items():
        values[section] = {**values.get(section, {}), **value}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def cli(*args, cwd=None, env=None):
    """The real CLI in a subprocess that knows the toy task."""
    return subprocess.run(
        [sys.executable, "-m", "textmix.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**plugin_env(PLUGIN_DIR), **(env or {})},
    )


PLUGIN_DIR = Path(__file__).resolve().parents[2] / ".pytest_cache" / "toy_plugin"


def refused(result, *phrases):
    """Exit 2 with one ``textmix: error:`` line that holds every phrase, and no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("textmix: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def untimed(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "timing"}


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A toy run stopped by SIGTERM in its second epoch (checkpoint at step 24), and the straight run."""
    base = tmp_path_factory.mktemp("interrupted")
    reference = train(recipe_from_dict(SMALL), base / "straight")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOY_SIGTERM_AT_STEP", "24")
        with pytest.raises(TrainingInterrupted):
            train(recipe_from_dict(SMALL), base / "run")
    return base / "run", reference


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    (target / RunDir.LOCK).unlink(missing_ok=True)
    return target


# --- files and run directories ---------------------------------------------------------------


def test_overwrite_refuses_a_folder_textmix_did_not_make(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    line = refused(cli("train", recipe_file(tmp_path), "--output-dir", folder, "--overwrite"), str(folder))
    assert "thesis.tex" in line
    assert (folder / "thesis.tex").read_text() == "precious" and sorted(os.listdir(folder)) == ["thesis.tex"]


@pytest.mark.parametrize("where", [".", "HOME"])
def test_overwrite_refuses_the_current_directory_and_home(tmp_path, where):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("keep")
    recipe = recipe_file(tmp_path)
    result = cli("train", recipe, "--output-dir", "." if where == "." else home, "--overwrite",
                 cwd=home if where == "." else tmp_path,
                 env={"HOME": str(home)})  # fmt: skip
    refused(result, "--overwrite refuses", "current directory" if where == "." else "home folder")
    assert (home / "notes.txt").read_text() == "keep"  # (libraries may add ~/.cache: not textmix's doing)
    assert not {RunDir.LOCK, RunDir.MARKER, RunDir.RECIPE} & set(os.listdir(home))


def test_a_new_run_into_a_folder_with_other_files_is_refused_and_creates_nothing(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "reviews.csv").write_text("text,label\n")
    refused(cli("train", recipe_file(tmp_path), "--output-dir", folder), "not empty and not a textmix run directory")
    assert sorted(os.listdir(folder)) == ["reviews.csv"]  # no lock, no marker, no recipe


def test_overwrite_clears_a_textmix_0_1_run_directory_without_marker(tmp_path):
    run = RunDir(tmp_path / "old")
    (run.path / "model").mkdir(parents=True)
    for name in (RunDir.RECIPE, RunDir.METRICS, "eval_predictions.npz", ".metrics.json.123.tmp"):
        (run.path / name).write_text("{}")
    assert run.is_run_directory
    run.check_can_overwrite()
    (run.path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="notes.txt"):
        run.check_can_overwrite()


def test_a_live_run_directory_is_locked_against_train_resume_evaluate_and_sweep(interrupted_run, tmp_path):
    run, _ = interrupted_run
    run = copy_of(run, tmp_path)
    recipe = recipe_file(tmp_path)
    swept = RunDir(tmp_path / "sweep" / "seed=1")  # the run directory `sweep --seeds 1` trains
    with RunDir(run).locked("the first run"), swept.locked("the first sweep"):
        for args, holder in (
            (("train", recipe, "--output-dir", run, "--resume"), "the first run"),
            (("train", recipe, "--output-dir", run), "the first run"),
            (("evaluate", run), "the first run"),
            (("sweep", recipe, "--out", tmp_path / "sweep", "--seeds", "1"), "the first sweep"),
        ):
            refused(cli(*args), "is in use by", holder)
    assert RunDir(run).holder() is None


def test_the_lock_dies_with_a_crashed_process(tmp_path):
    code = (
        "import sys, time\nfrom textmix.engine import RunDir\n"
        f"with RunDir({str(tmp_path / 'run')!r}).locked('crasher'):\n"
        "    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert "crasher" in RunDir(tmp_path / "run").holder()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert RunDir(tmp_path / "run").holder() is None  # no stale lock after kill -9


def test_resume_with_another_recipe_is_refused_and_keeps_recipe_yaml(interrupted_run, tmp_path):
    run = copy_of(interrupted_run[0], tmp_path)
    saved = (run / RunDir.RECIPE).read_bytes()
    other = recipe_file(tmp_path, mixup={"alpha": 1.0}, train={"epochs": 3})
    refused(cli("train", other, "--output-dir", run, "--resume"), "mixup.alpha", "train.epochs", "--resume")
    assert (run / RunDir.RECIPE).read_bytes() == saved


def test_resume_into_a_missing_folder_says_so(tmp_path):
    refused(cli("train", recipe_file(tmp_path), "--output-dir", tmp_path / "nope", "--resume"), "does not exist")
    assert not (tmp_path / "nope").exists()


def test_sigterm_during_the_final_evaluation_says_where_the_state_is(tmp_path, monkeypatch):
    recipe = recipe_from_dict(SMALL)
    reference = train(recipe, tmp_path / "straight")
    monkeypatch.setenv("TOY_SIGTERM_AT_EVALUATION", "5")  # after the last validation's 4 batches
    with pytest.raises(TrainingInterrupted, match="during the final evaluation; training is complete and saved in"):
        train(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / RunDir.METRICS).exists()
    monkeypatch.delenv("TOY_SIGTERM_AT_EVALUATION")
    assert untimed(train(recipe, tmp_path / "run", resume=True)) == untimed(reference)


def test_resume_after_kill_9_of_the_lock_holder_is_bit_identical(tmp_path):
    """A crash (not a clean SIGTERM) mid-training: the lock dies with the process, and --resume from
    the last complete checkpoint gives the straight run's numbers."""
    recipe = recipe_file(tmp_path, data={"n_train": 40000}, train={"epochs": 4})
    straight = cli("train", recipe, "--output-dir", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    run = RunDir(tmp_path / "run")
    command = [sys.executable, "-m", "textmix.cli", "train", str(recipe), "--output-dir", str(run.path)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=plugin_env(PLUGIN_DIR)
    )
    deadline = time.time() + 300
    while run.latest_checkpoint() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert run.latest_checkpoint() is not None and not run.finished, "the run ended before it could be killed"
    assert cli("train", recipe, "--output-dir", run.path, "--resume").returncode == 0
    assert untimed(run.read_metrics()) == untimed(RunDir(tmp_path / "straight").read_metrics())


def test_evaluate_on_an_interrupted_run_says_it_is_unfinished_and_which_epoch_it_evaluates(interrupted_run, tmp_path):
    run = copy_of(interrupted_run[0], tmp_path)
    result = cli("evaluate", run, "--set", "eval.mc_dropout_samples=0", "--set", "eval.bootstrap_resamples=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "is unfinished (interrupted; --resume continues it): evaluating its best model so far, from epoch 1 of 2"
        in result.stderr
    )
    evaluation = json.loads((run / RunDir.EVALUATION).read_text())
    assert evaluation["run_finished"] is False and evaluation["model_epoch"] == 1


def test_kill_9_of_a_parallel_sweep_stops_its_runs_and_a_rerun_finishes_them_identically(tmp_path):
    """The sweep's training processes die with it (a parent-death signal: they checkpoint and stop)
    instead of training on as orphans; the same sweep command then resumes them."""
    recipe = recipe_file(tmp_path, data={"n_train": 40000}, train={"epochs": 3})
    sweep = ["sweep", recipe, "--grid", "mixup.alpha=0.2,1.0", "--jobs", "2"]
    reference = cli(*sweep, "--out", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    runs = [RunDir(tmp_path / "killed" / name) for name in sorted(os.listdir(tmp_path / "reference")) if name[0] != "."]
    command = [sys.executable, "-m", "textmix.cli", *map(str, sweep), "--out", str(tmp_path / "killed")]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=plugin_env(PLUGIN_DIR)
    )
    deadline = time.time() + 300
    while not all(r.latest_checkpoint() and r.holder() for r in runs) and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 60
    while any(r.holder() for r in runs) and time.time() < deadline:  # each stops at its next step
        time.sleep(0.05)
    assert not any(r.holder() for r in runs), "a training process outlived its sweep"
    assert not any(r.finished for r in runs), "the runs ended before the sweep could be killed"
    rerun = cli(*sweep, "--out", tmp_path / "killed")
    assert rerun.returncode == 0 and "0 of 2 runs finished earlier" in rerun.stdout, rerun.stderr[-2000:]
    for run in runs:
        expected = RunDir(tmp_path / "reference" / run.path.name).read_metrics()
        assert untimed(run.read_metrics()) == untimed(expected)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_leaves_no_partial_folder(tmp_path, monkeypatch):
    """A real full file system (a 4 MiB tmpfs, mounted when this test may): the checkpoint write
    fails, the partial folder is removed, and after freeing space --resume gives the straight run."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN) on this machine")
    try:
        recipe = recipe_from_dict(SMALL)
        reference = train(recipe, tmp_path / "straight")
        calls = []
        real = checkpoint_module.rng_state

        def fill_disk_at_the_second_checkpoint(mixer):
            calls.append(1)
            if len(calls) == 2:  # fill all but 1 KiB: this checkpoint's files cannot fit
                free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
                (small / "filler").write_bytes(b"x" * max(free - 1024, 0))
            return real(mixer)

        monkeypatch.setattr(checkpoint_module, "rng_state", fill_disk_at_the_second_checkpoint)
        with pytest.raises(
            RunDirError, match=r"cannot write checkpoint .*step_32 \(No space left on device.*\); free space"
        ):
            train(recipe, small / "run")
        assert [p.name for p in (small / "run" / "checkpoints").iterdir()] == ["step_16"]  # no .tmp left
        (small / "filler").unlink()
        monkeypatch.setattr(checkpoint_module, "rng_state", real)
        assert untimed(train(recipe, small / "run", resume=True)) == untimed(reference)
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


# --- checkpoints: nothing is unpickled, damage is named ----------------------------------------


class _Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_resume_never_unpickles_a_planted_pickle(interrupted_run, tmp_path):
    run, reference = interrupted_run
    run = copy_of(run, tmp_path)
    marker = tmp_path / "pwned"
    folder = RunDir(run).latest_checkpoint()
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "scheduler.bin", "model.pt"):
        (folder / name).write_bytes(pickle.dumps(_Planted(marker)))
    resumed = train(recipe_from_dict(SMALL), run, resume=True)
    assert not marker.exists()
    assert untimed(resumed) == untimed(reference)  # and the resume is still exact


def test_a_textmix_0_1_pickle_checkpoint_is_refused_unread(interrupted_run, tmp_path):
    run = copy_of(interrupted_run[0], tmp_path)
    marker = tmp_path / "pwned"
    folder = RunDir(run).latest_checkpoint()
    (folder / "optimizer.bin").write_bytes(pickle.dumps(_Planted(marker)))
    refused(cli("train", recipe_file(tmp_path), "--output-dir", run, "--resume"), "textmix 0.1", "--overwrite")
    assert not marker.exists()


@pytest.mark.parametrize(
    "name,damage,phrase",
    [
        ("model.safetensors", "truncate", "unreadable"),
        ("optimizer.safetensors", "truncate", "unreadable"),
        ("rng_0.safetensors", "truncate", "unreadable"),
        ("rng_0.json", "delete", "is missing"),
        ("progress.json", "truncate", "unreadable"),
        ("scheduler.json", "delete", "is missing"),
    ],
)
def test_a_damaged_checkpoint_names_the_file(interrupted_run, tmp_path, name, damage, phrase):
    run = copy_of(interrupted_run[0], tmp_path)
    file = RunDir(run).latest_checkpoint() / name
    if damage == "delete":
        file.unlink()
    else:
        file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])
    refused(cli("train", recipe_file(tmp_path), "--output-dir", run, "--resume"), str(file), phrase, "--overwrite")


def test_damaged_saved_model_and_push_to_a_file(real_data, tmp_path):
    run = tmp_path / "run"
    assert cli("train", recipe_file(tmp_path, SMALL_TEXT, train={"epochs": 1}), "--output-dir", run).returncode == 0
    (tmp_path / "a_file").write_text("")
    refused(cli("push", run, "--repo-id", "me/x", "--dry-run", tmp_path / "a_file"), "is a file")
    weights = run / "model" / RunDir.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    refused(cli("predict", run, "a fine film"), "cannot load the model", "damaged")


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sets,phrase",
    [
        (["mixup.mix_point=pooled"], "mixup.mix_point='pooled' is not a mix point of kim_cnn"),
        (["mixup.alpha=.inf"], "mixup.alpha=inf is invalid"),
        (["mixup.alpha=.nan"], "mixup.alpha=nan is invalid"),
        (["data.max_train_examples=0"], "data.max_train_examples=0 is invalid"),
        (["eval.ood=[sst]"], "eval.ood entry 'sst' is unknown"),
    ],
)
def test_bad_settings_are_refused_before_any_data_is_read(tmp_path, sets, phrase):
    overrides = [a for s in sets for a in ("--set", s)]
    no_data = {"TEXTMIX_DATA_DIR": str(tmp_path / "no-data")}
    result = cli("train", recipe_file(tmp_path, SMALL_TEXT), "--output-dir", tmp_path / "run", *overrides, env=no_data)
    refused(result, phrase)
    assert not (tmp_path / "run").exists()


def test_recipe_that_is_a_folder_or_not_a_mapping(tmp_path):
    refused(cli("train", tmp_path, "--output-dir", tmp_path / "run"), "is a folder")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    refused(cli("train", tmp_path / "list.yaml", "--output-dir", tmp_path / "run"), "must be a mapping")


def test_more_processes_than_gpus_is_refused_before_cuda_fails(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(ArgumentError, match="started 2 processes on this machine but it has 1 GPU"):
        engine_run.make_accelerator()


# --- recipes are input: bounded, unambiguous, one line when wrong -------------------------------


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    bomb = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    bomb += [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi")
    ]
    (tmp_path / "bomb.yaml").write_text("\n".join(bomb) + "\n")  # 10⁹ values once expanded, 1 KB on disk
    started = time.perf_counter()
    refused(
        cli("train", tmp_path / "bomb.yaml", "--output-dir", tmp_path / "run"), "expands to more than 100,000 values"
    )
    assert time.perf_counter() - started < 60


@pytest.mark.parametrize(
    "text,sets,phrase",
    [
        ("method: mixup\ntrain:\n  epochs: 1\n  epochs: 2\n", [], "key 'epochs' is given twice"),
        ("", [], "is empty; give at least method and data"),
        (None, ["eval.ood=[trec"], "--set 'eval.ood=[trec' is not valid YAML"),
        (None, ["train.seed=!!python/object/apply:os.system [echo]"], "is not valid YAML"),
        (None, ["train.seed=" + "9" * 5000], "holds a value that cannot be read"),
    ],
)
def test_malformed_recipes_and_overrides_are_one_line(tmp_path, text, sets, phrase):
    recipe = recipe_file(tmp_path) if text is None else tmp_path / "recipe.yaml"
    if text is not None:
        recipe.write_text(text)
    overrides = [a for s in sets for a in ("--set", s)]
    refused(cli("train", recipe, "--output-dir", tmp_path / "run", *overrides), phrase)
    assert not (tmp_path / "run").exists()


def test_an_output_dir_that_is_a_file_is_one_line_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    refused(cli("train", recipe_file(tmp_path), "--output-dir", tmp_path / "notes.txt"), "is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_log_file_holds_no_progress_bar_fragments(tmp_path):
    """Output that is not a terminal (a sweep's .logs, nohup, CI) gets the log lines, not tqdm's
    carriage-return fragments."""
    result = cli("train", recipe_file(tmp_path), "--output-dir", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "it/s" not in result.stderr and "\r" not in result.stderr, result.stderr[-2000:]
