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
