"""Your own text classification data: CSV, JSON Lines or parquet files with named text and label
columns (``data.name: custom``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from datasets import DatasetDict

from textmix.errors import DataError
from textmix.text.datasets import SPLITS, finish_splits, make_dataset

CUSTOM_FORMATS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def _custom_files(path: Path) -> dict[str, str]:
    """Map split → file: a single file is 'train' (to be split); a folder holds train[.ext],
    and optionally validation and test."""
    if path.is_file():
        return {"train": str(path)}
    if not path.is_dir():
        raise DataError(f"data.path {str(path)!r} does not exist")
    files = {}
    for split in SPLITS:
        found = [p for p in path.iterdir() if p.stem == split and p.suffix in CUSTOM_FORMATS]
        if found:
            files[split] = str(found[0])
    if "train" not in files:
        raise DataError(
            f"folder {str(path)!r} has no train file: expected train.csv, train.jsonl or "
            "train.parquet (and optionally validation.* and test.*)"
        )
    return files


def load_custom_dataset(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> DatasetDict:
    """A user's CSV / JSON Lines / parquet files with named text and label columns.

    Args:
        path: one file (validation and test are carved from it, seeded and stratified) or a
            folder holding ``train.<ext>`` and optionally ``validation.<ext>`` / ``test.<ext>``.
        text_column: column holding the text.
        label_column: column holding the label: strings (classes sorted by name) or integers
            0..K-1.
        val_fraction, test_fraction, seed: as in :func:`load_text_dataset`.
    """
    from datasets import load_dataset

    if path is None:
        raise DataError("dataset 'custom' needs data.path: a CSV / JSON Lines / parquet file or folder")
    files = _custom_files(Path(path).expanduser())
    suffixes = {Path(f).suffix for f in files.values()}
    unknown = suffixes - set(CUSTOM_FORMATS)
    if unknown or len({CUSTOM_FORMATS[s] for s in suffixes - unknown}) > 1:
        raise DataError(
            f"custom data files must share one format among {sorted(CUSTOM_FORMATS)}, got {sorted(suffixes)}"
        )
    try:
        raw = load_dataset(CUSTOM_FORMATS[suffixes.pop()], data_files=files)
    except Exception as error:  # unreadable or empty files: name them instead of a deep traceback
        raise DataError(
            f"cannot read the custom data files {files}: {type(error).__name__}: {error} "
            "(each file needs a header and at least one row)"
        ) from None
    columns = raw[next(iter(files))].column_names
    for what, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in columns:
            raise DataError(f"data.{what}={column!r} is not a column of {path}; available columns: {columns}")
    values = [v for split in raw.values() for v in split[label_column]]
    if any(v is None for v in values):
        raise DataError(f"label column {label_column!r} of {path} has empty values")
    if all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        to_id = {name: i for i, name in enumerate(names)}
    elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if min(values) < 0:
            raise DataError(f"integer labels in {label_column!r} must be >= 0, found {min(values)}")
        names = [str(i) for i in range(max(values) + 1)]
        to_id = {i: i for i in range(len(names))}
    else:
        raise DataError(f"label column {label_column!r} must hold all strings or all integers")
    parts = {
        split: make_dataset([str(t) for t in part[text_column]], [to_id[v] for v in part[label_column]], names)
        for split, part in raw.items()
    }
    trained = set(parts["train"]["label"])
    for split, part in parts.items():
        unseen = sorted(set(part["label"]) - trained)
        if unseen:
            raise DataError(
                f"label {names[unseen[0]]!r} occurs in the {split} file of {path} but not in its train file; "
                f"the model would have no output for it (train has {len(trained)} of {len(names)} classes)"
            )
    if "all" not in parts and "test" not in parts:
        parts["all"] = parts.pop("train")
    return finish_splits(parts, val_fraction, test_fraction, seed, 0, 0)
