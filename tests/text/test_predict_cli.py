"""textmix predict in a shell: standard input, a reader that stops early, other encodings, batch
sizes, texts it cannot read, and --version."""

import json
import subprocess
import sys

import pytest

import textmix
from textmix.engine import recipe_from_dict, train

SMALL = {"data": {"name": "mr", "max_train_examples": 300}, "model": {"num_filters": 8},
         "train": {"epochs": 1, "batch_size": 25}, "eval": {"bootstrap_resamples": 0}}  # fmt: skip


def shell(command: str, cwd):
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd)


def test_predict_reads_standard_input_and_ends_quietly_when_the_reader_stops(real_data, tmp_path):
    train(recipe_from_dict(SMALL), tmp_path / "run")
    python = f"{sys.executable} -m textmix.cli"
    result = shell(f"printf 'a fine film\\n\\na dull one\\n' | {python} predict run -", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["a fine film", "a dull one"]  # not the text "-"
    assert "Loading weights" not in result.stdout + result.stderr  # the Hub mixin's print is swallowed
    many = tmp_path / "many.txt"
    many.write_text("".join(f"review number {i} was fine\n" for i in range(20000)))
    result = shell(f"set -o pipefail; {python} predict run --file many.txt | head -n 2", tmp_path)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2, result.stderr[-2000:]
    assert "BrokenPipe" not in result.stderr and "Traceback" not in result.stderr


def test_texts_the_model_cannot_read_are_refused_with_their_positions(real_data, tmp_path):
    train(recipe_from_dict(SMALL), tmp_path / "run")
    model = textmix.load_model(tmp_path / "run")
    with pytest.raises(textmix.TextmixError, match=r"texts at positions \[2, 3\] hold no word the model can read"):
        model.predict(["a fine film", "🎬🍿✨", "— … ©"])


def test_predict_reads_other_encodings_in_batches_and_the_version_is_printed(real_data, tmp_path):
    train(recipe_from_dict(SMALL), tmp_path / "run")
    (tmp_path / "reviews.txt").write_bytes("a café of a film\nthe naïve plot\n".encode("cp1252"))
    python = f"{sys.executable} -m textmix.cli"
    refused = shell(f"{python} predict run --file reviews.txt", tmp_path)
    assert refused.returncode == 2 and "give its --encoding (e.g. cp1252" in refused.stderr
    result = shell(f"{python} predict run --file reviews.txt --encoding cp1252 --batch-size 1 --jsonl", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["text"] for p in printed] == ["a café of a film", "the naïve plot"]
    expected = textmix.load_model(tmp_path / "run").predict_proba(["a café of a film", "the naïve plot"]).max(1)
    assert [p["probability"] for p in printed] == pytest.approx(expected.tolist())
    version = shell(f"{python} --version", tmp_path)
    assert version.stdout.strip() == f"textmix {textmix.__version__}"


def test_undecodable_standard_input_is_one_line_like_an_undecodable_file(small_mr_run, tmp_path):
    """Before, standard input was read with replacement characters and classified as if it were text."""
    python = f"{sys.executable} -m textmix.cli"
    refused = shell(f"printf 'a caf\\xe9 of a film\\n' | {python} predict {small_mr_run} -", tmp_path)
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert "standard input is not utf-8 text" in refused.stderr and "give its --encoding" in refused.stderr
    read = shell(f"printf 'a caf\\xe9 of a film\\n' | {python} predict {small_mr_run} - --encoding cp1252", tmp_path)
    assert read.returncode == 0 and read.stdout.strip().endswith("a café of a film"), read.stderr[-1500:]


def test_options_may_come_before_between_or_after_the_texts(small_mr_run, tmp_path):
    python = f"{sys.executable} -m textmix.cli"
    outputs = [
        shell(f"{python} predict {args}", tmp_path)
        for args in (
            f"--conformal 0.1 {small_mr_run} 'a fine film' 'a dull one'",
            f"{small_mr_run} 'a fine film' --conformal 0.1 'a dull one'",
            f"{small_mr_run} 'a fine film' 'a dull one' --conformal 0.1",
        )  # fmt: skip
    ]
    assert all(o.returncode == 0 for o in outputs), [o.stderr[-500:] for o in outputs]
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout
    assert [line.split("\t")[-1] for line in outputs[0].stdout.splitlines()] == ["a fine film", "a dull one"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_a_device_this_machine_lacks_is_named_not_blamed_on_the_model_folder(small_mr_run, tmp_path):
    result = shell(f"{sys.executable} -m textmix.cli predict {small_mr_run} 'a fine film' --device cuda", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "device 'cuda': this machine has no CUDA device" in result.stderr and "damaged" not in result.stderr
