"""Package boundaries: vision never pulls in text dependencies; the console script exists."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from textmix.io import atomic_write_json

TEXT_ONLY = ["transformers", "datasets", "gensim", "textmix.data", "textmix.models", "textmix.engine"]


def test_vision_and_textmix_import_without_text_dependencies():
    code = f"import sys, textmix, vision; print([m for m in {TEXT_ONLY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("textmix")
    assert script.is_file(), "pip install -e . installs the `textmix` console script"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "train" in out and "evaluate" in out


def test_atomic_json_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"accuracy": 0.8})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"accuracy": object()})  # not serializable: fails before any write
    assert json.loads(path.read_text()) == {"accuracy": 0.8}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind
