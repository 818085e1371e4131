"""README.md stays true: generated tables are current, examples run, CI runs the test command."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textmix.docs import render

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def fenced_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*```\w*\n(.*?)```", README, re.S)
    assert match, f"README has no fenced block after {marker}"
    return match.group(1)


def test_recipe_key_table_is_current():
    assert render(README) == README, "run: python -m textmix.docs README.md"
    table = README.split("<!-- recipe-keys:start -->")[1].split("<!-- recipe-keys:end -->")[0]
    assert not re.findall(r"\{[a-z_]+\}", table), "a placeholder of a docstring is not filled by textmix.docs"


def test_the_readme_names_every_figure_kind_report_draws():
    from textmix.engine.report import FIGURE_KINDS

    missing = [kind for kind in FIGURE_KINDS if f"`{kind}`" not in README]
    assert not missing, f"README's --figures list lacks {missing}"


def test_ci_runs_the_readme_test_command():
    command = fenced_after("<!-- test-command -->").strip()
    assert "pytest" in command and "constraints.txt" in command
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # .ci/run extracts and runs exactly that block


def test_every_test_docs_reliability_cites_exists():
    """A promise backed by a renamed or deleted test would be a promise backed by nothing."""
    cited = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", (REPO / "docs" / "reliability.md").read_text()))
    assert len(cited) >= 40  # the table was read, not skipped
    missing = [
        f"{path}::{name}"
        for path, name in sorted(cited)
        if not (REPO / path).is_file() or not re.search(rf"^def {name}\(", (REPO / path).read_text(), re.M)
    ]
    assert not missing, f"docs/reliability.md cites tests that do not exist: {missing}"


def test_main_command_trains_the_mr_mixup_recipe():
    command = fenced_after("<!-- main-command -->")
    assert "textmix train recipes/mr/kim_cnn_mixup.yaml" in command
    assert (REPO / "recipes" / "mr" / "kim_cnn_mixup.yaml").is_file()
    assert "<!-- main-command -->" in (REPO / ".ci" / "run").read_text()  # .ci/run runs it verbatim


def test_custom_model_example_runs_and_trains_with_the_engine(real_data, tmp_path, monkeypatch, capsys):
    from textmix.text.models import MODELS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    try:
        exec(compile(fenced_after("<!-- example: custom-model -->"), "README-example", "exec"), {})
    finally:
        if "bag_of_embeddings" in MODELS:
            MODELS.remove("bag_of_embeddings")
    out = capsys.readouterr().out
    assert "'ece'" in out
    accuracy = float(re.search(r"MR test accuracy (\S+),", out).group(1))
    assert accuracy > 0.6  # 2 epochs of a mean-of-GloVe classifier on MR
    metrics = json.loads((tmp_path / "runs" / "mr_bag_of_embeddings" / "metrics.json").read_text())
    assert metrics["test"]["n"] == 1066 and metrics["test"]["accuracy"] == pytest.approx(accuracy, abs=5e-4)
    assert (tmp_path / "runs" / "mr_bag_of_embeddings" / "model" / "model.safetensors").is_file()


@pytest.mark.parametrize("path", sorted((REPO / "recipes").rglob("*.yaml")), ids=lambda p: p.name)
def test_recipes_parse_as_yaml(path):
    import yaml

    assert isinstance(yaml.safe_load(path.read_text()), dict)


# --- every fenced block marked <!-- runnable --> runs, in document order, on small settings ----

SMALL = ["train.epochs=1", "data.max_train_examples=300"]
# the run the README's predict, conformal and abstention examples use: all of MR, 3 epochs (about 15 s),
# so that its sets and abstentions carry information (a 300-review model is sure of nothing)
INFORMED = {"runs/mr_kim_cnn_baseline": ["train.epochs=3"]}
SMALL_VISION = ["eval.mc_dropout_samples=0", "eval.ood=[mnist]", "eval.perturbation=[10]"]
TRAINS = re.compile(r"textmix (train|sweep) |-m textmix\.train ")


def runnable_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block right after a <!-- runnable --> marker."""
    return re.findall(r"<!-- runnable -->\s*```(\w+)\n(.*?)```", README, re.S)


def small(line: str) -> str | None:
    """The line as the test runs it: None when skipped (``# needs: ...``), training shortened, study
    scripts checked with ``sweep --dry-run`` (their recipes and grids validated, nothing trained)."""
    code, _, comment = line.partition("  # ")
    if comment.startswith("needs:"):
        if re.match(r"(\w+=\S+ )*bash docs/results/", code):
            return f"TEXTMIX_SWEEP_ARGS=--dry-run TEXTMIX_SKIP_REPORT=1 {code}"
        return None
    if TRAINS.search(code):
        sets = SMALL + (SMALL_VISION if "recipes/vision/" in code else [])
        sets = next((v for run, v in INFORMED.items() if code.rstrip().endswith(f"--output-dir {run}")), sets)
        code += "".join(f" --set {shlex.quote(s)}" for s in sets)
    return code


def test_runnable_blocks_are_marked_and_skips_give_a_reason():
    blocks = runnable_blocks()
    assert len(blocks) >= 6 and {lang for lang, _ in blocks} == {"bash", "python"}
    for _, code in blocks:
        for line in code.splitlines():
            if "# needs" in line:
                assert re.search(r"  # needs: \w", line), f"skip marker must read '  # needs: <reason>': {line}"


@pytest.mark.slow
def test_every_runnable_readme_command_works(real_data, tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    shutil.copytree(REPO / "docs" / "results", tmp_path / "docs" / "results", ignore=shutil.ignore_patterns("*.png"))
    bin_dir = Path(sys.executable).parent
    # the study scripts call `textmix sweep/report`: a shim passes --dry-run to sweep, skips report
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "textmix").write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = report ] && [ -n "${TEXTMIX_SKIP_REPORT:-}" ]; then exit 0; fi\n'
        'if [ "$1" = sweep ]; then exec "' + str(bin_dir / "textmix") + '" "$@" $TEXTMIX_SWEEP_ARGS; fi\n'
        'exec "' + str(bin_dir / "textmix") + '" "$@"\n'
    )
    (shim / "textmix").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["TEXTMIX_DATA_DIR"] = str(real_data)
    ran, informative = 0, []
    for lang, code in runnable_blocks():
        if lang == "python":
            result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
            assert result.returncode == 0, f"README Python block failed:\n{code}\n{result.stderr[-3000:]}"
            if "predict_set(" in code:  # the conformal example prints sets that carry information
                assert re.search(r"\[\['(neg|pos)'\]", result.stdout), result.stdout
                informative.append("python sets")
            ran += 1
            continue
        for line in code.splitlines():
            command = small(line.strip())
            if not command:
                continue
            if command.startswith("export TEXTMIX_DATA_DIR="):
                continue  # the test's own data folder (already exported)
            result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True)
            assert result.returncode == 0, f"README command failed: {command}\n{result.stderr[-3000:]}"
            assert "had defaults used instead" not in result.stderr, f"accelerate filled in defaults: {command}"
            if command.startswith("textmix predict") and "--conformal" in command:  # at least one singleton
                assert re.search(r"^\{(neg|pos)\}\t", result.stdout, re.M), result.stdout
                informative.append("predict sets")
            if command.startswith("textmix predict") and "--target-risk" in command:  # a certified threshold
                assert "with probability >= 90% the error rate among answered texts is <= 15%" in result.stderr
                informative.append("abstention")
            ran += 1
    assert ran >= 20
    assert sorted(informative) == ["abstention", "predict sets", "python sets"]
    assert (tmp_path / "runs" / "mr_report" / "README.md").is_file()
    assert (tmp_path / "runs" / "upload" / "README.md").is_file()  # the push --dry-run folder
    # the blocks write only under runs/ (ignored by git): nothing new beside what the test copied in
    assert {p.name for p in tmp_path.iterdir()} <= {"recipes", "examples", "docs", "shim", "runs"}, sorted(
        p.name for p in tmp_path.iterdir()
    )
    assert (tmp_path / "runs" / "cifar10_small_mixup" / "metrics.json").is_file()
