"""``textmix export``: a trained model as files that run without textmix (the ``onnx`` extra).

    textmix export runs/mr_kim_cnn_mixup --format onnx exported/
    cd exported && python run_onnx.py "a gripping, funny film"    # onnxruntime, tokenizers, numpy

The folder holds ``model.onnx`` (token ids and attention mask (B, T) int64 → logits (B, K)
float32, the uncalibrated network), ``tokenizer.json`` (Hugging Face ``tokenizers``: the Kim CNN's
word tokenizer and vocabulary rebuilt rule for rule, a transformer's own tokenizer, both truncating
where textmix does), ``labels.json``, ``calibrator.json`` (the calibrator chosen in training,
``{"name", "state"}``, or null), ``run_onnx.py`` (tokenize → ONNX → the calibrator's NumPy form,
the calibrator class's ``numpy_code``) and a README saying the same. Nothing in it imports textmix.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from textmix.core.atomic_files import current_umask, readable_as_umask, replace_dir
from textmix.core.calibrators.base import NUMPY_PRELUDE, UNCALIBRATED_NUMPY_CODE
from textmix.core.errors import ArgumentError, TextmixError
from textmix.text.features import HFFeaturizer, WordFeaturizer
from textmix.text.predict import CalibratedClassifier, load_model
from textmix.text.tokenization import KIM_RULES, PAD, UNK

FORMATS = ("onnx",)
OPSET = 18
FILES = ("model.onnx", "tokenizer.json", "labels.json", "calibrator.json", "run_onnx.py", "README.md")


class ExportError(TextmixError):
    """A model that cannot be exported as asked (a missing extra, a calibrator without a NumPy form)."""


def kim_tokenizer(featurizer: WordFeaturizer):
    """The Kim CNN's tokenizer as a ``tokenizers.Tokenizer``: the same regular-expression rules in
    order (KIM_RULES), lowercasing, whitespace split, the vocabulary's ids (``<unk>`` for the rest),
    truncation at max_length and padding with ``<pad>`` to the longest text of a batch."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    rules = [normalizers.Replace(Regex(_onig(pattern)), replacement) for pattern, replacement in KIM_RULES]
    if featurizer.tokenizer.lowercase:
        rules.append(normalizers.Lowercase())  # after the rules only ASCII letters are left: str.lower's result
    tokenizer = Tokenizer(WordLevel(vocab=featurizer.vocab.index, unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(rules)
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if featurizer.tokenizer.max_length:
        tokenizer.enable_truncation(featurizer.tokenizer.max_length)
    tokenizer.enable_padding(pad_id=featurizer.pad_id, pad_token=PAD)
    return tokenizer


def _onig(pattern: re.Pattern) -> str:
    """A Python pattern in the Oniguruma syntax of ``tokenizers`` (the rules use the common subset)."""
    return ("(?i)" if pattern.flags & re.IGNORECASE else "") + pattern.pattern


def hf_tokenizer(featurizer: HFFeaturizer):
    """A transformer's own fast tokenizer, truncating at textmix's max_length and padding a batch."""
    backend = featurizer.tokenizer.backend_tokenizer  # a copy: the loaded model keeps its own
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.enable_truncation(featurizer.max_length)
    tokenizer.enable_padding(pad_id=featurizer.pad_id, pad_token=featurizer.tokenizer.pad_token)
    return tokenizer


class _Graph(torch.nn.Module):
    """The network as exported: (input_ids, attention_mask) → logits, padded inside the graph to
    the model's shortest input (the Kim CNN's widest window; padding never changes its output)."""

    def __init__(self, model: torch.nn.Module, min_length: int):
        super().__init__()
        self.model, self.pad = model, min_length - 1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pad:
            input_ids = F.pad(input_ids, (0, self.pad))  # (B, T + pad), pad id 0 for the Kim CNN
            attention_mask = F.pad(attention_mask, (0, self.pad))
        return self.model(input_ids, attention_mask).float()  # (B, K)


def write_onnx(classifier: CalibratedClassifier, tokenizer, path: Path) -> None:
    """Export the network with dynamic batch and length, from two texts the tokenizer encodes."""
    model = classifier.model.float().eval().cpu()
    examples = tokenizer.encode_batch(["a fine , moving and funny film", "dull"])
    ids = torch.tensor([e.ids for e in examples], dtype=torch.long)  # (2, T)
    mask = torch.tensor([e.attention_mask for e in examples], dtype=torch.long)
    graph = _Graph(model, getattr(classifier.featurizer, "min_length", 1)).eval()
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name", category=UserWarning)  # both inputs share the dims
        program = torch.onnx.export(
            graph, (ids, mask), dynamo=True, opset_version=OPSET, input_names=["input_ids", "attention_mask"],
            output_names=["logits"], dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}), verbose=False,
        )  # fmt: skip
    program.save(str(path))


def runner_script(calibrator: dict | None, numpy_code: str) -> str:
    """run_onnx.py: texts from the command line → label, calibrated probability, text."""
    name = calibrator["name"] if calibrator else "no calibrator"
    return f'''"""Run this exported textmix model without textmix: tokenizers → onnxruntime → the calibrator.

    python run_onnx.py "a gripping, funny film" "dull and far too long"
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer


{NUMPY_PRELUDE}

def calibrated(z, s):
    """Probabilities (N, K) from logits z (N, K) float64 and the saved state s of {name}."""
{_indent(numpy_code)}
    return p


def logits(texts, folder=Path(__file__).parent):
    """The network's logits (N, K) float64: softmax gives the uncalibrated probabilities."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)  # (N, T)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    (z,) = session.run(["logits"], {{"input_ids": ids, "attention_mask": mask}})
    return z.astype(np.float64)


def predict_proba(texts, folder=Path(__file__).parent):
    """Calibrated probabilities (N, K), as textmix's predict_proba gives them."""
    saved = json.loads((folder / "calibrator.json").read_text())
    return calibrated(logits(texts, folder), saved["state"] if saved else None)


if __name__ == "__main__":
    labels = json.loads((Path(__file__).parent / "labels.json").read_text())
    for text, row in zip(sys.argv[1:], predict_proba(sys.argv[1:])):
        print(f"{{labels[int(row.argmax())]}}\\t{{row.max():.4f}}\\t{{text}}")
'''


def _indent(code: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in code.splitlines())


def readme(source: str, kind: str, calibrator: dict | None, labels: list[str]) -> str:
    name = calibrator["name"] if calibrator else "none"
    return f"""# A textmix model, exported to run without textmix

Exported by `textmix export {source} --format onnx` ({kind}; classes {", ".join(labels)}; calibrator
{name}). Needs `pip install onnxruntime tokenizers numpy` only:

```bash
python run_onnx.py "a gripping, funny film" "dull and far too long"
```

- `model.onnx`: inputs `input_ids` and `attention_mask`, int64 (batch, length); output `logits`,
  float32 (batch, classes): the uncalibrated network (softmax gives textmix's `calibrator="none"`
  probabilities).
- `tokenizer.json` (Hugging Face `tokenizers`): the ids textmix feeds the model, truncated where
  textmix truncates, a batch padded to its longest text.
- `labels.json`: class names in output order.
- `calibrator.json`: the post-hoc calibrator chosen in training, `{{"name": ..., "state": ...}}`
  (null: none). `run_onnx.py`'s `calibrated()` applies it in NumPy exactly as textmix does.

textmix refuses texts in which no word is known to the model (only unknown pieces); this runner
does not check.
"""


def check_target(out: Path) -> None:
    """The export replaces ``out`` whole: only a new or empty folder or an earlier export."""
    if out.exists() and not out.is_dir():
        raise ArgumentError(f"{out} is a file; give export a folder to write (a new one, or an earlier export)")
    others = sorted(p.name for p in out.iterdir() if p.name not in FILES) if out.is_dir() else []
    if others:
        raise ArgumentError(f"{out} holds files an export did not write ({', '.join(others[:3])}); export replaces "
                            "the folder whole: give a new folder")  # fmt: skip


def export_model(source: str | Path, out: str | Path, format: str = "onnx", calibrator: str | None = None) -> Path:
    """Write the export folder ``out`` (replacing an older one only when complete)."""
    if format not in FORMATS:
        raise ArgumentError(f"--format {format!r} is not supported; choose one of: {', '.join(FORMATS)}")
    try:
        import onnxscript  # noqa: F401 - torch.onnx's exporter needs it; say the extra, not a traceback
    except ImportError:
        raise ExportError("textmix export needs the onnx extra: pip install 'textmix[onnx]'") from None
    out = Path(out)
    check_target(out)
    classifier = load_model(source, calibrator=calibrator)
    saved = classifier.calibrator.to_json() if classifier.calibrator is not None else None
    code = type(classifier.calibrator).numpy_code if classifier.calibrator is not None else UNCALIBRATED_NUMPY_CODE
    if code is None:
        raise ExportError(f"calibrator {saved['name']!r} has no NumPy form to export with; choose another the model "
                          "stores with --calibrator NAME (or none)")  # fmt: skip
    featurizer = classifier.featurizer
    tokenizer = kim_tokenizer(featurizer) if isinstance(featurizer, WordFeaturizer) else hf_tokenizer(featurizer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_onnx(classifier, tokenizer, tmp / "model.onnx")
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "labels.json").write_text(json.dumps(classifier.label_names, ensure_ascii=False) + "\n")
        (tmp / "calibrator.json").write_text(json.dumps(saved) + "\n")
        (tmp / "run_onnx.py").write_text(runner_script(saved, code))
        kind = "Kim CNN" if isinstance(featurizer, WordFeaturizer) else "transformer"
        (tmp / "README.md").write_text(readme(str(source), kind, saved, classifier.label_names))
        readable_as_umask(tmp)
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp made it 0700
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


__all__ = ["ExportError", "export_model", "kim_tokenizer"]
