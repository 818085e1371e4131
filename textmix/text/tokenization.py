"""Kim (2014)-style word tokenizer and the vocabulary of the CNN."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

# (pattern, replacement) in order; read by textmix.text.export to build the same tokenizer in `tokenizers`
KIM_RULES = [
    (re.compile(r"<br\s*/?>", re.IGNORECASE), " "),  # HTML line breaks (IMDB)
    (re.compile(r"[^A-Za-z0-9(),!?'`]"), " "),
    (re.compile(r"'s"), " 's"),
    (re.compile(r"'ve"), " 've"),
    (re.compile(r"n't"), " n't"),
    (re.compile(r"'re"), " 're"),
    (re.compile(r"'d"), " 'd"),
    (re.compile(r"'ll"), " 'll"),
    (re.compile(r","), " , "),
    (re.compile(r"!"), " ! "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\?"), " ? "),
]


@dataclass(frozen=True)
class KimTokenizer:
    """Kim's ``clean_str``: keep letters, digits and ``(),!?'`` ``\\` ``, split clitics
    ('s 've n't 're 'd 'll) and punctuation, optionally lowercase, split on whitespace.

    Every other character (``.``, ``-``, ``"``, accented letters) becomes a separator, as in
    Kim's code. HTML line breaks (``<br />``, IMDB) are removed first.

    Args:
        lowercase: lowercase the text (GloVe 6B is lowercase).
        max_length: keep at most this many tokens (None: all).
    """

    lowercase: bool = True
    max_length: int | None = None

    def __call__(self, text: str) -> list[str]:
        for pattern, replacement in KIM_RULES:
            text = pattern.sub(replacement, text)
        if self.lowercase:
            text = text.lower()
        tokens = text.split()
        return tokens[: self.max_length] if self.max_length else tokens


@dataclass
class Vocabulary:
    """Token ↔ id map with ``<pad>`` = 0 and ``<unk>`` = 1.

    Args:
        tokens: the id-ordered token list, starting with ``<pad>``, ``<unk>``.
    """

    tokens: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        if self.tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {self.tokens[:2]}")
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")

    @classmethod
    def build(cls, tokenized: Iterable[list[str]], min_freq: int = 1, extra: Iterable[str] = ()) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times (most frequent first), then ``extra`` tokens.

        Args:
            tokenized: token lists of the training texts.
            min_freq: minimum count for a training token to get its own id.
            extra: further tokens to include (e.g. evaluation words that have a pretrained
                vector, as Kim's code does; no labels are used).
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts = Counter(token for tokens in tokenized for token in tokens)
        kept = [t for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_freq]
        seen = set(kept)
        kept += sorted({t for t in extra if t not in seen} - {PAD, UNK})
        return cls([PAD, UNK] + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in tokens]
