"""The one way textmix loads anything with ``transformers``' ``from_pretrained``: a local folder is
read as input first (no ``auto_map`` anywhere in its configs), and every call passes
``trust_remote_code=False``, so no folder's or repository's code runs and transformers never asks
("Do you wish to run the custom code? [y/N]" would read ``yes |`` on standard input as consent).
"""

from __future__ import annotations

import json
from pathlib import Path

from textmix.core.errors import HubError

CONFIG_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json")
REFUSAL = "textmix never runs code from a model folder: train or export the model with textmix"
# what a tokenizer is read from; transformers builds an empty one (every word [UNK]) without them
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt")


def has_auto_map(value) -> bool:
    """Whether a JSON value maps a class to code shipped with the model, at any depth."""
    if isinstance(value, dict):
        return "auto_map" in value or any(has_auto_map(v) for v in value.values())
    return isinstance(value, list) and any(has_auto_map(v) for v in value)


def refuse_custom_code(folder: Path) -> None:
    """A folder whose configs point at code shipped with it (``auto_map``) is refused in one line,
    whatever a library's error would suggest; so is a config that is not JSON."""
    folder = Path(folder)
    for name in CONFIG_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError):
            raise HubError(
                f"{path} is not valid JSON; the model folder is damaged: copy or download it again"
            ) from None
        if has_auto_map(config):
            raise HubError(f"{path} points at custom code (auto_map); {REFUSAL}")


def hf_from_pretrained(auto_class: str, source: str | Path, **kwargs):
    """``transformers.<auto_class>.from_pretrained(source, trust_remote_code=False, **kwargs)``
    after :func:`refuse_custom_code` on a local folder; a Hub repository that needs its own code is
    refused in one line (transformers checks its config after the download)."""
    import transformers

    folder = Path(source).expanduser()
    if folder.is_dir():
        refuse_custom_code(folder)
        if auto_class == "AutoTokenizer" and not (
            any((folder / name).is_file() for name in TOKENIZER_FILES) or any(folder.glob("*.model"))
        ):
            raise HubError(f"{folder} has no tokenizer files ({', '.join(TOKENIZER_FILES)} or a *.model): the "
                           "tokenizer is missing; save it beside the model (tokenizer.save_pretrained)")  # fmt: skip
    try:
        return getattr(transformers, auto_class).from_pretrained(str(source), trust_remote_code=False, **kwargs)
    except ValueError as error:
        if "trust_remote_code" in str(error) or "custom code" in str(error):
            raise HubError(f"{source} needs its own code to load; {REFUSAL}") from None
        raise
