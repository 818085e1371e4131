"""Text classification datasets: one table of facts, one resolver, loaders for original formats.

Every dataset loads as a ``datasets.DatasetDict`` with splits ``train`` / ``validation`` / ``test``
and columns ``text`` (str) and ``label`` (ClassLabel). Sources are tried in this order:

1. an explicit local path (``data.path`` in the recipe): a folder in the dataset's original format,
   or (for ``custom``) CSV / JSON Lines / parquet files;
2. ``$TEXTMIX_DATA_DIR/<name>/``;
3. the Hugging Face Hub via ``datasets.load_dataset(hub_id)``.

Split protocol (also in README): official splits are kept; a missing validation split is carved
from train, seeded and stratified (``val_fraction``, default 10%). MR from the raw Pang & Lee files
has no split at all: a seeded stratified 80/10/10 train/validation/test split, or Kim's (2014)
10-fold cross-validation (``cv_folds=10``, ``fold=k``: fold k is test, 10% of the rest validation).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from textmix.core.errors import DataError
from textmix.core.paths import DATA_DIR_ENV, data_dir
from textmix.core.registry import Registry
from textmix.core.splits import kfold_test_indices, stratified_split

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset.

    Args:
        hub_id: Hugging Face Hub repository of the dataset.
        label_columns: label column name on the Hub for each ``label_set``; the first is default.
        label_names: class names per label set, in label-id order (None: read from the data).
        local_files: files whose presence identifies the original format in a local folder.
        reader: reads the local folder (and a label set) into named splits.
        hub_splits: Hub split name for each of train / validation / test (None: carve).
        official_test: whether the local files hold an official test split (False: textmix carves
            a seeded one, as for raw MR).
        other_layout: given a folder without ``local_files``, the folder inside it that holds the
            dataset in another layout its ``reader`` understands (IMDB's ``aclImdb`` tree), or None.
    """

    hub_id: str
    label_columns: dict[str, str]
    label_names: dict[str, list[str] | None]
    local_files: tuple[str, ...]
    reader: Callable[[Path, str], dict[str, Dataset]]
    hub_splits: dict[str, str | None] = field(
        default_factory=lambda: {"train": "train", "validation": None, "test": "test"}
    )
    official_test: bool = True
    other_layout: Callable[[Path], Path | None] | None = None


def make_dataset(texts: list[str], labels: list[int], names: list[str]) -> Dataset:
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"text": texts, "label": labels}, features=features)


def _read_lines(path: Path, encoding: str) -> list[str]:
    # Split on "\n" only: U+0085 (cp1252 byte \x85 under latin-1) is a line break for
    # str.splitlines() and would split sentences in two.
    text = path.read_bytes().decode(encoding)
    return [line.strip() for line in text.split("\n") if line.strip()]


def read_mr(folder: Path, label_set: str) -> dict[str, Dataset]:
    """Pang & Lee ``rt-polarity.pos`` / ``.neg`` (cp1252): one unsplit set of 5331 + 5331."""
    neg = _read_lines(folder / "rt-polarity.neg", "cp1252")
    pos = _read_lines(folder / "rt-polarity.pos", "cp1252")
    return {"all": make_dataset(neg + pos, [0] * len(neg) + [1] * len(pos), ["neg", "pos"])}


def read_trec(folder: Path, label_set: str) -> dict[str, Dataset]:
    """Li & Roth ``train_5500.label`` / ``TREC_10.label``: ``COARSE:fine question`` per line."""
    names = TREC_FINE if label_set == "fine" else TREC_COARSE
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for split, filename in (("train", "train_5500.label"), ("test", "TREC_10.label")):
        texts, labels = [], []
        # latin-1 keeps the one stray byte \xf0 of the train file as a character; the tokenizer
        # treats it as a separator, as Hugging Face's loader does.
        for lineno, line in enumerate(_read_lines(folder / filename, "latin-1"), 1):
            tag, _, question = line.partition(" ")
            key = tag if label_set == "fine" else tag.split(":")[0]
            if key not in index:
                raise DataError(f"{folder / filename}:{lineno}: unknown TREC label {key!r}")
            texts.append(question.replace("\xf0", " "))
            labels.append(index[key])
        out[split] = make_dataset(texts, labels, names)
    return out


def _read_imdb_jsonl(path: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:  # file iteration splits on "\n" only
            record = json.loads(line)
            texts.append(record["text"])
            labels.append(int(record["label"]))
    return texts, labels


def _read_imdb_folder(path: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for label, sub in enumerate(("neg", "pos")):
        files = sorted((path / sub).glob("*.txt"), key=lambda p: int(p.stem.split("_")[0]))
        texts += [f.read_text(encoding="utf-8") for f in files]
        labels += [label] * len(files)
    return texts, labels


def read_imdb(folder: Path, label_set: str) -> dict[str, Dataset]:
    """IMDB as ``train.jsonl.gz`` / ``test.jsonl.gz`` or as the ``aclImdb`` folder tree."""
    out = {}
    for split in ("train", "test"):
        jsonl = folder / f"{split}.jsonl.gz"
        texts, labels = _read_imdb_jsonl(jsonl) if jsonl.exists() else _read_imdb_folder(folder / split)
        out[split] = make_dataset(texts, labels, ["neg", "pos"])
    return out


def _imdb_tree(folder: Path) -> Path | None:
    """``folder`` or its ``aclImdb`` child when it is the original IMDB tree (train/pos, test/neg)."""
    for candidate in (folder, folder / "aclImdb"):
        if (candidate / "train" / "pos").is_dir() and (candidate / "test" / "neg").is_dir():
            return candidate
    return None


TREC_COARSE = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]  # CogComp/trec coarse_label order
TREC_FINE = [
    "ABBR:abb",
    "ABBR:exp",
    "ENTY:animal",
    "ENTY:body",
    "ENTY:color",
    "ENTY:cremat",
    "ENTY:currency",
    "ENTY:dismed",
    "ENTY:event",
    "ENTY:food",
    "ENTY:instru",
    "ENTY:lang",
    "ENTY:letter",
    "ENTY:other",
    "ENTY:plant",
    "ENTY:product",
    "ENTY:religion",
    "ENTY:sport",
    "ENTY:substance",
    "ENTY:symbol",
    "ENTY:techmeth",
    "ENTY:termeq",
    "ENTY:veh",
    "ENTY:word",
    "DESC:def",
    "DESC:desc",
    "DESC:manner",
    "DESC:reason",
    "HUM:gr",
    "HUM:ind",
    "HUM:title",
    "HUM:desc",
    "LOC:city",
    "LOC:country",
    "LOC:mount",
    "LOC:other",
    "LOC:state",
    "NUM:code",
    "NUM:count",
    "NUM:date",
    "NUM:dist",
    "NUM:money",
    "NUM:ord",
    "NUM:other",
    "NUM:period",
    "NUM:perc",
    "NUM:speed",
    "NUM:temp",
    "NUM:volsize",
    "NUM:weight",
]  # CogComp/trec fine_label order

DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(name: str, info: DatasetInfo) -> DatasetInfo:
    """Make ``data.name: NAME`` (and ``eval.ood`` / ``eval.shift`` entries) read ``info``'s dataset."""
    return DATASETS.add(name, info)


register_dataset(
    "mr",
    DatasetInfo(
        hub_id="cornell-movie-review-data/rotten_tomatoes",
        label_columns={"default": "label"},
        label_names={"default": ["neg", "pos"]},
        local_files=("rt-polarity.pos", "rt-polarity.neg"),
        reader=read_mr,
        hub_splits={"train": "train", "validation": "validation", "test": "test"},
        official_test=False,  # the raw Pang & Lee files have no split
    ),
)
register_dataset(
    "trec",
    DatasetInfo(
        hub_id="CogComp/trec",
        label_columns={"coarse": "coarse_label", "fine": "fine_label"},
        label_names={"coarse": TREC_COARSE, "fine": TREC_FINE},
        local_files=("train_5500.label", "TREC_10.label"),
        reader=read_trec,
    ),
)
register_dataset(
    "imdb",
    DatasetInfo(
        hub_id="stanfordnlp/imdb",
        label_columns={"default": "label"},
        label_names={"default": ["neg", "pos"]},
        local_files=("train.jsonl.gz", "test.jsonl.gz"),
        reader=read_imdb,
        other_layout=_imdb_tree,
    ),
)


def find_local(name: str, path: str | os.PathLike | None) -> Path | None:
    """The local folder to read ``name`` from, or None to fall back to the Hub.

    Raises DataError when an explicit ``path`` is given but does not hold the dataset.
    """
    info = DATASETS.get(name)

    def holding(folder: Path) -> Path | None:
        """``folder`` itself, or the folder of the dataset's other layout, if it holds the dataset."""
        if all((folder / f).is_file() for f in info.local_files):
            return folder
        return info.other_layout(folder) if info.other_layout else None

    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.path {str(folder)!r} for dataset {name!r} is not a folder")
        found = holding(folder)
        if found is None:
            raise DataError(
                f"data.path {str(folder)!r} does not hold {name!r} in its original format: "
                f"expected the files {', '.join(info.local_files)}"
            )
        return found
    root = data_dir()
    return holding(root / name) if root else None


def _load_from_hub(name: str, label_set: str) -> dict[str, Dataset]:
    from datasets import load_dataset

    info = DATASETS.get(name)
    try:
        remote = load_dataset(info.hub_id)
    except Exception as error:  # offline, unknown repo, no network: all the same advice
        raise DataError(
            f"dataset {name!r} was not found locally and could not be loaded from the Hugging "
            f"Face Hub ({info.hub_id}): {type(error).__name__}: {error}\n"
            "Provide it in one of three ways: (1) set data.path to a folder with the original "
            f"files ({', '.join(info.local_files)}); (2) put that folder at "
            f"${DATA_DIR_ENV}/{name}/; (3) go online so `datasets` can download {info.hub_id}."
        ) from None
    column = info.label_columns[label_set]
    names = info.label_names[label_set]
    out = {}
    for split, hub_split in info.hub_splits.items():
        if hub_split is None:
            continue
        part = remote[hub_split]
        out[split] = make_dataset(part["text"], part[column], names)
    return out


def finish_splits(
    parts: dict[str, Dataset],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    cv_folds: int,
    fold: int,
) -> DatasetDict:
    """Carve the missing validation (and test) splits, seeded and stratified."""
    carved_from = None
    if "all" in parts:
        everything = parts.pop("all")
        carved_from = len(everything)
        labels = np.asarray(everything["label"])
        if cv_folds:
            test_idx = kfold_test_indices(labels, cv_folds, fold, seed)
            rest = np.setdiff1d(np.arange(len(labels)), test_idx)
        else:
            rest, test_idx = stratified_split(labels, test_fraction, seed)
        parts["test"] = everything.select(test_idx)
        parts["train"] = everything.select(rest)
    elif cv_folds:
        raise DataError(
            "cross-validation (data.cv_folds) applies only to datasets without a test split (mr from raw files)"
        )
    if "validation" not in parts:
        train = parts["train"]
        if carved_from is not None:  # fractions are of the whole set: 80/10/10, not 81/9/10
            val_fraction = val_fraction * carved_from / len(train)
        keep, val_idx = stratified_split(np.asarray(train["label"]), val_fraction, seed + 1)
        parts["validation"] = train.select(val_idx)
        parts["train"] = train.select(keep)
    return DatasetDict({split: parts[split] for split in SPLITS})


def load_text_dataset(
    name: str,
    path: str | os.PathLike | None = None,
    label_set: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    cv_folds: int = 0,
    fold: int = 0,
) -> DatasetDict:
    """Load a dataset of the table as train / validation / test with ``text`` and ``label``.

    Args:
        name: a key of ``DATASETS`` (mr, trec, imdb).
        path: local folder in the original format; None to try ``$TEXTMIX_DATA_DIR`` then the Hub.
        label_set: which labels (trec: ``coarse`` (6, default) or ``fine`` (50)).
        val_fraction: share of train carved as validation when there is no official one.
        test_fraction: share held out as test when the source has no split (raw MR).
        seed: seed of every carved split.
        cv_folds: >0 for k-fold cross-validation on a source without a test split.
        fold: which fold is the test set, 0 <= fold < cv_folds.
    """
    info = DATASETS.get(name)
    label_set = label_set or next(iter(info.label_columns))
    if label_set not in info.label_columns:
        raise DataError(f"dataset {name!r} has label sets {list(info.label_columns)}, not {label_set!r}")
    if cv_folds and not 0 <= fold < cv_folds:
        raise DataError(f"data.fold must be in [0, {cv_folds - 1}] for {cv_folds} folds, got {fold}")
    folder = find_local(name, path)
    if folder is not None:
        parts = info.reader(folder, label_set)
    else:
        parts = _load_from_hub(name, label_set)
    return finish_splits(parts, val_fraction, test_fraction, seed, cv_folds, fold)


def data_source(name: str, path=None, test_fraction: float = 0.1, seed: int = 0, cv_folds: int = 0, fold: int = 0):
    """What :func:`load_text_dataset` reads for these arguments and where its test split comes from:
    {"read": "files", "path", "test"} or {"read": "hub", "hub_id", "test"} (``metrics.json["data"]``
    and the model card say which test set a number was measured on)."""
    info = DATASETS.get(name)
    folder = find_local(name, path)
    if folder is None:
        return {"read": "hub", "hub_id": info.hub_id, "test": f"the Hub's {info.hub_splits.get('test', 'test')} split"}
    if info.official_test:
        return {"read": "files", "path": str(folder), "test": "the official test split"}
    if cv_folds:
        test = f"fold {fold} of textmix's {cv_folds}-fold cross-validation (split_seed {seed})"
    else:
        test = f"textmix's stratified {test_fraction:.0%} of all reviews (split_seed {seed})"
    return {"read": "files", "path": str(folder), "test": test}
