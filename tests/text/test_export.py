"""``textmix export``: a Kim CNN and a MiniLM that run without textmix. onnxruntime's probabilities
equal textmix's (uncalibrated and calibrated) on 1,000 MR sentences, the exported tokenizer.json
gives textmix's ids, and run_onnx.py runs as written in a process where ``import textmix`` fails.
Every calibrator's NumPy form (what run_onnx.py applies) equals the calibrator on real predictions."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import textmix
import textmix.names as names
from textmix.cli import main
from textmix.core.calibrators import make_calibrator
from textmix.core.calibrators.base import NUMPY_PRELUDE
from textmix.core.errors import ArgumentError

pytest.importorskip("onnxscript", reason="the onnx extra is absent: pip install -e '.[dev,onnx]'")
pytest.importorskip("onnxruntime", reason="onnxruntime (dev extra) is absent: pip install -e '.[dev,onnx]'")
from textmix.text.export import FILES, ExportError, export_model, kim_tokenizer  # noqa: E402

# runs in a process where `import textmix` fails: the exported folder's own runner, nothing else
WITHOUT_TEXTMIX = """
import json, sys
sys.modules["textmix"] = None
sys.path.insert(0, sys.argv[1])
import numpy as np
import run_onnx
from tokenizers import Tokenizer
texts = json.loads(open(sys.argv[2]).read())
z = run_onnx.logits(texts)
tokenizer = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
tokenizer.no_padding()
print(json.dumps({"raw": run_onnx.softmax(z).tolist(), "calibrated": run_onnx.predict_proba(texts).tolist(),
                  "ids": [e.ids for e in tokenizer.encode_batch(texts)]}))
"""


def mr_sentences(folder: Path, n: int = 1000) -> list[str]:
    """n MR sentences, half from each class file (the raw files are cp1252)."""
    lines = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        text = (folder / "mr" / name).read_bytes().decode("cp1252", errors="replace")
        lines += [line.strip() for line in text.splitlines() if line.strip()][: n // 2]
    return lines


def run_without_textmix(folder: Path, texts: list[str], tmp_path: Path) -> dict:
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    result = subprocess.run([sys.executable, "-c", WITHOUT_TEXTMIX, str(folder), str(tmp_path / "texts.json")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_export(run: Path, out: Path, real_data: Path, tmp_path: Path) -> None:
    texts = mr_sentences(real_data)
    export_model(run, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    exported = run_without_textmix(out, texts, tmp_path)
    model = textmix.load_model(run)
    np.testing.assert_allclose(exported["raw"], model.predict_proba(texts, calibrated=False), atol=1e-4, rtol=0)
    np.testing.assert_allclose(exported["calibrated"], model.predict_proba(texts), atol=1e-4, rtol=0)
    assert exported["ids"] == [model.featurizer.encode(t) for t in texts]
    assert json.loads((out / "labels.json").read_text()) == model.label_names == ["neg", "pos"]
    assert json.loads((out / "calibrator.json").read_text()) == model.calibrator.to_json()
    # the runner as the README says: python run_onnx.py TEXT..., still without textmix
    as_written = "import runpy, sys; sys.modules['textmix'] = None; sys.argv = sys.argv[1:]; " \
                 "runpy.run_path('run_onnx.py', run_name='__main__')"  # fmt: skip
    printed = subprocess.run([sys.executable, "-c", as_written, "run_onnx.py", texts[0], texts[-1]], cwd=out,
                             capture_output=True, text=True)  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-3000:]
    ours = model.predict([texts[0], texts[-1]])
    assert printed.stdout.splitlines() == [f"{r['label']}\t{r['probability']:.4f}\t{r['text']}" for r in ours]


def test_an_exported_kim_cnn_gives_textmix_probabilities_without_textmix(mr_predictions, real_data, tmp_path):
    check_export(mr_predictions["run"], tmp_path / "exported", real_data, tmp_path)


def test_an_exported_minilm_gives_textmix_probabilities_without_textmix(small_minilm_run, real_data, tmp_path):
    check_export(small_minilm_run, tmp_path / "exported", real_data, tmp_path)


@pytest.mark.data("imdb")
def test_the_kim_tokenizer_json_gives_textmix_ids_on_reviews_and_hostile_text(mr_predictions, real_data):
    """IMDB reviews (HTML line breaks, 400-token truncation) and text textmix's rules rewrite: accents,
    curly quotes, tabs, no-break spaces, clitics, upper case, dotted capitals."""
    import gzip

    from textmix.text.features import WordFeaturizer

    vocab = textmix.load_model(mr_predictions["run"]).featurizer.vocab
    featurizer = WordFeaturizer(vocab, lowercase=True, max_length=400, min_length=5)
    tokenizer = kim_tokenizer(featurizer)
    tokenizer.no_padding()
    with gzip.open(real_data / "imdb" / "test.jsonl.gz", "rt") as lines:
        texts = [json.loads(line)["text"] for _, line in zip(range(2000), lines)]
    texts += ["Café <BR/>naïve — “quoted” it's 'fine'\t\ttab\u00a0nbsp<br >x", "ÀÉÎ straße İstanbul ǅ",
              "don't WON'T y'all (really?!) a,b", "<br/><br />"]  # fmt: skip
    assert any("<br />" in t for t in texts) and any(len(featurizer.tokenize(t)) == 400 for t in texts)
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    # textmix reads a text with no token as one <unk> (and predict refuses it); tokenizers gives none
    assert [i or [1] for i in ids] == [featurizer.encode(t) for t in texts]


@pytest.mark.parametrize("predictions", ["mr_predictions", "trec_predictions"])
def test_every_calibrators_numpy_form_equals_the_calibrator(predictions, request):
    """The code run_onnx.py applies (NUMPY_PRELUDE + the class's numpy_code), run with NumPy only on a
    calibrator fitted on real validation logits, against textmix's calibrated test probabilities."""
    data = request.getfixturevalue(predictions)
    k = data["test_logits"].shape[1]
    for name in names.CALIBRATORS:
        calibrator = make_calibrator(name)
        if calibrator.binary_only and k > 2:
            continue
        calibrator.fit(data["val_logits"], data["val_labels"])
        space = {"np": np, "z": data["test_logits"].astype(np.float64), "s": calibrator.to_json()["state"]}
        exec(NUMPY_PRELUDE + "\n" + type(calibrator).numpy_code, space)  # noqa: S102 - our own documented code
        np.testing.assert_allclose(space["p"], calibrator(data["test_logits"].astype(np.float64)), atol=1e-12,
                                   err_msg=name)  # fmt: skip


def test_export_replaces_only_an_earlier_export_and_says_so_in_one_line(mr_predictions, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(mr_predictions["run"]), str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["export", str(mr_predictions["run"]), str(out), "--calibrator", "none"]) == 0  # an earlier export
    assert json.loads((out / "calibrator.json").read_text()) is None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for target, says in [(tmp_path / "mine", "holds files an export did not write (notes.txt)"),
                         (tmp_path / "mine" / "notes.txt", "is a file")]:  # fmt: skip
        assert main(["export", str(mr_predictions["run"]), str(target)]) == 2
        assert says in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["export", str(mr_predictions["run"]), str(tmp_path / "x"), "--format", "tflite"]) == 2
    assert "--format 'tflite' is not supported; choose one of: onnx" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported", "mine"]  # nothing half-written


def test_a_failed_export_leaves_the_earlier_one_and_no_temporary_folder(mr_predictions, tmp_path, monkeypatch):
    import textmix.text.export as export

    out = tmp_path / "exported"
    export_model(mr_predictions["run"], out)
    before = (out / "model.onnx").read_bytes()

    def broken(*args):
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(export, "write_onnx", broken)
    with pytest.raises(RuntimeError, match="the exporter failed"):
        export_model(mr_predictions["run"], out, calibrator="none")
    assert (out / "model.onnx").read_bytes() == before and json.loads((out / "calibrator.json").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["exported"]


def test_export_without_the_extra_or_a_numpy_form_is_one_line(mr_predictions, tmp_path, monkeypatch):
    from textmix.core.calibrators.temperature import TemperatureScaling

    monkeypatch.setattr(TemperatureScaling, "numpy_code", None)  # a plugin calibrator without one
    with pytest.raises(ExportError, match="calibrator 'temperature' has no NumPy form .* --calibrator NAME"):
        export_model(mr_predictions["run"], tmp_path / "a")
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ExportError, match=r"needs the onnx extra: pip install 'textmix\[onnx\]'"):
        export_model(mr_predictions["run"], tmp_path / "b")
    with pytest.raises(ArgumentError, match="choose one of: onnx"):
        export_model(mr_predictions["run"], tmp_path / "c", format="tflite")
    assert not list(tmp_path.iterdir())


def test_a_copied_export_runs_from_its_new_place(mr_predictions, real_data, tmp_path):
    """run_onnx.py finds its files beside itself, not where it was written."""
    export_model(mr_predictions["run"], tmp_path / "exported")
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "exported", moved)
    shutil.rmtree(tmp_path / "exported")
    texts = mr_sentences(real_data, 20)
    exported = run_without_textmix(moved, texts, tmp_path)
    np.testing.assert_allclose(exported["calibrated"], textmix.load_model(mr_predictions["run"]).predict_proba(texts),
                               atol=1e-4, rtol=0)  # fmt: skip
