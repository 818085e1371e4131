"""Predictions from files for ``textmix calibrate``: CSV, JSON Lines, parquet or ``.npz``; per-example
results (label sets, abstentions) written back as CSV or JSON Lines.

Score columns are named by a comma-separated list (``neg,pos``), a glob (``prob_*``, in file order),
or one column whose values are lists (JSON Lines, parquet) or, in ``.npz``, one (N, K) array (e.g.
``np.savez("preds.npz", logits=out.predictions, labels=out.label_ids)`` after ``Trainer.predict``).
Labels are integers 0..K-1, or strings equal to score column names.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from textmix.core.errors import DataError

FORMATS = (".csv", ".jsonl", ".json", ".parquet", ".npz")


def _table(path: Path) -> dict[str, np.ndarray]:
    """Column name → values (npz keys → arrays)."""
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except ValueError as error:  # object arrays would need pickle: refused
            raise DataError(
                f"{path} holds arrays that need pickle to load ({error}); save plain numeric arrays"
            ) from None
    import pandas as pd

    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet}
    try:
        frame = readers[path.suffix](path) if path.suffix in readers else pd.read_json(path, lines=True)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path} ({type(error).__name__}: {str(error)[:200]})") from None
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def _columns(table: dict, spec: str, path: Path, labels: str | None) -> list[str]:
    """The score columns ``spec`` names; a glob never matches the label column, and naming it is
    refused (it would be read as one more class's score)."""
    names = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if any(c in part for c in "*?["):
            found = [c for c in fnmatch.filter(list(table), part) if c != labels]
        else:
            found = [part] if part in table else []
        if not found:
            raise DataError(f"{path} has no column {part!r}; its columns: {', '.join(list(table)[:20])}")
        if labels in found:
            raise DataError(f"{path}: column {labels!r} is the label column; it cannot also be a score column")
        names += found
    return names


def _matrix(table: dict, names: list[str], path: Path) -> np.ndarray:
    if len(names) == 1:
        values = table[names[0]]
        if values.dtype == object:  # lists per row (JSON Lines, parquet)
            try:
                values = np.stack([np.asarray(v, dtype=np.float64) for v in values])
            except (ValueError, TypeError):
                raise DataError(f"column {names[0]!r} of {path} does not hold equal-length lists of numbers") from None
        if values.ndim != 2:
            raise DataError(
                f"{path}: one score column {names[0]!r} must hold one (N, K) array or lists; name K columns"
            )
        # a float32 array (a run's saved logits) stays float32: its softmax is the run's own
        return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)
    try:
        return np.stack([np.asarray(table[n], dtype=np.float64) for n in names], axis=1)
    except (ValueError, TypeError):
        raise DataError(f"score columns {names} of {path} must hold numbers") from None


def read_predictions(path: str | Path, scores: str, labels: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores (N, K) float64, or float32 as stored in one array column, labels (N,) int64 or None)
    from a predictions file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    if path.suffix not in FORMATS:
        raise DataError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    table = _table(path)
    names = _columns(table, scores, path, labels)
    x = _matrix(table, names, path)
    if labels is None:
        return x, None
    if labels not in table:
        raise DataError(f"{path} has no label column {labels!r}; its columns: {', '.join(list(table)[:20])}")
    y = np.asarray(table[labels])
    if y.dtype.kind in "OUS":  # strings: class names among the score columns
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in y} - set(index))
        if unknown:
            raise DataError(f"labels {unknown[:5]} of {path} are neither integers nor score column names {names}")
        return x, np.array([index[str(v)] for v in y], dtype=np.int64)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise DataError(f"label column {labels!r} of {path} holds non-integer values (e.g. missing ones)")
    return x, y.astype(np.int64)


def write_rows(path: str | Path, rows: list[dict]) -> Path:
    """Per-example results, atomically: ``.csv`` (a list value, such as a label set, joined by "|",
    the empty set as an empty cell) or ``.jsonl`` (one object a line, lists as lists)."""
    import csv
    import io
    import json

    from textmix.core.atomic_files import atomic_write_text

    path = Path(path)
    if path.suffix == ".jsonl":
        return atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    if path.suffix != ".csv":
        raise DataError(f"{path}: per-example results are written as .csv or .jsonl")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "|".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows)
    return atomic_write_text(path, buffer.getvalue())
