"""Featurizers turn text into token ids and collate padded batches; they save next to a model."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from textmix.core.errors import DataError, TextmixError
from textmix.text.tokenization import PAD_ID, KimTokenizer, Vocabulary

FEATURIZER_FILE = "featurizer.json"


class WordFeaturizer:
    """Kim tokenizer + vocabulary, for word-embedding models such as the Kim CNN.

    Args:
        vocab: token ↔ id map.
        lowercase: lowercase before lookup.
        max_length: truncate to this many tokens.
        min_length: pad every batch to at least this length (the widest CNN filter).
    """

    kind = "words"
    pad_id = PAD_ID

    def __init__(self, vocab: Vocabulary, lowercase: bool = True, max_length: int = 400, min_length: int = 1):
        self.vocab = vocab
        self.tokenizer = KimTokenizer(lowercase=lowercase, max_length=max_length)
        self.min_length = min_length

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer(text)

    def encode(self, text: str) -> list[int]:
        ids = self.vocab.encode(self.tokenizer(text))
        return ids or [self.vocab.index["<unk>"]]  # an empty text still yields one token

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def special_ids(self) -> set[int]:
        return {0, 1}

    def save(self, folder: str | Path) -> None:
        config = {
            "kind": self.kind,
            "lowercase": self.tokenizer.lowercase,
            "max_length": self.tokenizer.max_length,
            "min_length": self.min_length,
            "tokens": self.vocab.tokens,
        }
        Path(folder, FEATURIZER_FILE).write_text(json.dumps(config, ensure_ascii=False))

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> WordFeaturizer:
        return cls(Vocabulary(config["tokens"]), config["lowercase"], config["max_length"], config["min_length"])


class HFFeaturizer:
    """A Hugging Face tokenizer, truncating to ``max_length`` subword tokens.

    Args:
        tokenizer: a ``PreTrainedTokenizerBase``.
        max_length: truncate to this many tokens (special tokens included).
    """

    kind = "hf"
    min_length = 1

    def __init__(self, tokenizer, max_length: int = 128):
        if tokenizer.pad_token_id is None:
            raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no pad token")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = tokenizer.pad_token_id

    @classmethod
    def from_pretrained(cls, name_or_path: str, max_length: int = 128) -> HFFeaturizer:
        from textmix.text.hf_loading import hf_from_pretrained

        return cls(hf_from_pretrained("AutoTokenizer", name_or_path), max_length)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def special_ids(self) -> set[int]:
        return set(self.tokenizer.all_special_ids)

    def save(self, folder: str | Path) -> None:
        self.tokenizer.save_pretrained(folder)
        config = {"kind": self.kind, "max_length": self.max_length}
        Path(folder, FEATURIZER_FILE).write_text(json.dumps(config))

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> HFFeaturizer:
        return cls.from_pretrained(str(folder), config["max_length"])


FEATURIZERS = {cls.kind: cls for cls in (WordFeaturizer, HFFeaturizer)}


def load_featurizer(folder: str | Path) -> WordFeaturizer | HFFeaturizer:
    """Rebuild the featurizer saved in ``folder`` (reads JSON and tokenizer files only)."""
    path = Path(folder, FEATURIZER_FILE)
    if not path.is_file():
        raise DataError(f"{path} is missing: {folder} is not a textmix text model folder")
    try:
        config = json.loads(path.read_text())
        kind = FEATURIZERS[config["kind"]]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is not a textmix featurizer file ({type(error).__name__}: {error})") from None
    try:
        return kind.from_config(config, Path(folder))
    except TextmixError:  # already one line naming the cause (missing tokenizer, custom code)
        raise
    except Exception as error:  # noqa: BLE001 - a truncated or foreign tokenizer file: name the folder
        raise DataError(
            f"the tokenizer files in {folder} are unreadable ({type(error).__name__}: {str(error)[:150]}); "
            "the model folder is damaged: copy or download it again"
        ) from None


def collate(examples: list[dict], pad_id: int, min_length: int) -> dict[str, torch.Tensor]:
    """Examples with ``input_ids``, ``label`` and ``index`` → padded tensors.

    Returns:
        input_ids (B, T), attention_mask (B, T), labels (B,), index (B,); T is the longest
        example in the batch (at least ``min_length``).
    """
    ids, mask = pad_batch([e["input_ids"] for e in examples], min_length=min_length, pad_id=pad_id)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": torch.tensor([e["label"] for e in examples], dtype=torch.long),
        "index": torch.tensor([e["index"] for e in examples], dtype=torch.long),
    }


def pad_batch(sequences: list[list[int]], min_length: int = 1, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest in the batch (at least ``min_length``).

    Returns:
        input_ids (B, T) int64 and attention_mask (B, T) int64 (1 = real token).
    """
    width = max(min_length, max(len(s) for s in sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
