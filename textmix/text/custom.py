"""Your own text classification data: CSV, JSON Lines or parquet files with named text and label
columns (``data.name: custom``)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from textmix.core.errors import DataError
from textmix.text.datasets import SPLITS, finish_splits, make_dataset

logger = logging.getLogger(__name__)

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


def check_file(path: Path, encoding: str) -> None:
    """Refuse, naming the line, what ``datasets`` would report as a generic error or read wrongly:
    bytes that are not ``encoding``, a JSON line that is not an object, duplicate CSV columns."""
    if path.suffix == ".parquet":
        return
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path} line {line} is not valid {encoding} (byte {raw[error.start]:#04x}); set data.encoding "
            "(e.g. latin-1 or cp1252) or convert the file to UTF-8"
        ) from None
    except LookupError:
        raise DataError(f"data.encoding={encoding!r} is not a known text encoding (e.g. utf-8, latin-1)") from None
    if path.suffix == ".csv":
        header = next(csv.reader(io.StringIO(text)), [])
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise DataError(f"{path} has duplicate column names {repeated}; give every column its own name")
        return
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path} line {number} is not valid JSON ({error.msg}); one JSON object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path} line {number} is a JSON {type(record).__name__}, not an object with named fields")


def _rows(indices) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:10])
    return f"{shown}{', ...' if len(indices) > 10 else ''} ({len(indices)} in all; first data row = 1)"


def check_texts(part, file: str, column: str) -> list[str]:
    """The text column as strings; refuses non-text columns and empty or whitespace-only texts."""
    dtype = part.features[column]
    if getattr(dtype, "dtype", None) not in ("string", "large_string"):
        first = part[0][column] if len(part) else None
        raise DataError(
            f"data.text_column={column!r} of {file} holds {getattr(dtype, 'dtype', type(dtype).__name__)} values "
            f"(row 1: {first!r}), not text; choose the column that holds the texts"
        )
    texts = part[column]
    empty = [i for i, t in enumerate(texts) if t is None or not t.strip()]
    if empty:
        raise DataError(
            f"{file}: empty or whitespace-only texts in column {column!r} at rows {_rows(empty)}; remove them"
        )
    return texts


def label_names(values: list, column: str, path) -> tuple[list[str], dict]:
    """Class names (sorted) and value → id. Labels are names, never positions: integers 1 and 2 make
    two classes, not three. Surrounding whitespace of string labels is removed (logged)."""
    if any(v is None for v in values):
        raise DataError(f"label column {column!r} of {path} has empty values")
    if all(isinstance(v, str) for v in values):
        stripped = {v: v.strip() for v in set(values)}
        changed = sorted(v for v, s in stripped.items() if v != s)
        if changed:
            logger.warning("labels %s of %s had surrounding whitespace: removed, so they join their stripped twins",
                           changed, path)  # fmt: skip
        names = sorted(set(stripped.values()))
        folded = {}
        for name in names:
            folded.setdefault(name.casefold(), []).append(name)
        twins = [v for v in folded.values() if len(v) > 1]
        if twins:
            logger.warning("labels %s of %s differ only in case: kept as separate classes", twins, path)
        return names, {v: names.index(s) for v, s in stripped.items()}
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        ordered = sorted({int(v) for v in values})
        return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}
    raise DataError(f"label column {column!r} of {path} must hold all strings or all integers")


def check_classes(parts: dict, names: list[str], path, carved: bool = False) -> None:
    """At least two classes in train; validation and test hold exactly the classes train has (a class
    missing from train has no trained output; one missing from an evaluation split goes unmeasured)."""
    counts = {split: np.bincount(part["label"], minlength=len(names)) for split, part in parts.items()}
    described = {split: {names[i]: int(n) for i, n in enumerate(c) if n} for split, c in counts.items()}
    if (counts["train"] > 0).sum() < 2:
        raise DataError(f"the train data of {path} has one class only ({described['train']}); a classifier needs two")
    for split, c in counts.items():
        unseen = [names[i] for i in np.flatnonzero((c > 0) & (counts["train"] == 0))]
        absent = [names[i] for i in np.flatnonzero((c == 0) & (counts["train"] > 0))]
        if unseen or absent:
            what = f"{'the carved ' if carved else 'the '}{split} split" if carved else f"the {split} file"
            problem = (
                f"label {unseen[0]!r} occurs in {what} of {path} but not in its train data; the model would have "
                "no output for it"
                if unseen
                else f"{what} of {path} has no example of {absent}; those classes would go unmeasured"
                + (" (too few examples to carve: add some or give validation/test files)" if carved else "")
            )
            raise DataError(f"{problem} (train: {described['train']}; {split}: {described[split]})")


def load_labelled_file(path, text_column: str, label_column: str, encoding: str = "utf-8") -> Dataset:
    """Every row of one CSV / JSON Lines / parquet file as a ``text`` / ``label`` dataset (an
    evaluation set: nothing is carved from it)."""
    from datasets import load_dataset

    path = Path(path).expanduser()
    if path.suffix not in CUSTOM_FORMATS or not path.is_file():
        raise DataError(f"{path} is not a CSV / JSON Lines / parquet file")
    check_file(path, encoding)
    kind = CUSTOM_FORMATS[path.suffix]
    part = load_dataset(kind, data_files={"test": str(path)}, **({} if kind == "parquet" else {"encoding": encoding}))
    part = part["test"]
    for what, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in part.column_names:
            raise DataError(f"data.{what}={column!r} is not a column of {path}; available columns: {part.column_names}")
    names, to_id = label_names(part[label_column], label_column, path)
    return make_dataset(check_texts(part, str(path), text_column), [to_id[v] for v in part[label_column]], names)


def load_custom_dataset(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    encoding: str = "utf-8",
) -> DatasetDict:
    """A user's CSV / JSON Lines / parquet files with named text and label columns.

    Args:
        path: one file (validation and test are carved from it, seeded and stratified) or a
            folder holding ``train.<ext>`` and optionally ``validation.<ext>`` / ``test.<ext>``.
        text_column: column holding the text.
        label_column: column holding the label: strings or integers, each distinct value a class
            (sorted), whatever the values are.
        val_fraction, test_fraction, seed: as in :func:`load_text_dataset`.
        encoding: text encoding of CSV and JSON Lines files.
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
    for file in files.values():
        check_file(Path(file), encoding)
    kind = CUSTOM_FORMATS[suffixes.pop()]
    try:
        raw = load_dataset(kind, data_files=files, **({} if kind == "parquet" else {"encoding": encoding}))
    except Exception as error:  # unreadable or empty files: name them instead of a deep traceback
        raise DataError(
            f"cannot read the custom data files {files}: {type(error).__name__}: {error} "
            "(each file needs a header and at least one row)"
        ) from None
    for split, part in raw.items():
        for what, column in (("text_column", text_column), ("label_column", label_column)):
            if column not in part.column_names:
                raise DataError(
                    f"data.{what}={column!r} is not a column of {files[split]}; available columns: {part.column_names}"
                )
    names, to_id = label_names([v for part in raw.values() for v in part[label_column]], label_column, path)
    parts = {
        split: make_dataset(check_texts(part, files[split], text_column), [to_id[v] for v in part[label_column]], names)
        for split, part in raw.items()
    }
    check_classes(parts, names, path)
    if "all" not in parts and "test" not in parts:
        parts["all"] = parts.pop("train")
    splits = finish_splits(parts, val_fraction, test_fraction, seed, 0, 0)
    check_classes(splits, names, path, carved=True)
    return splits
