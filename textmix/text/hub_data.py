"""Any text classification dataset from the Hugging Face Hub or from disk (``data.name: hub``).

Sources, in order: ``data.path`` (a folder written by ``Dataset.save_to_disk`` /
``DatasetDict.save_to_disk``, or a local copy of a Hub dataset repository),
``$TEXTMIX_DATA_DIR/<data.hub_id>/`` (a local copy), then ``datasets.load_dataset(data.hub_id,
data.hub_config)``. Label names come from a ``ClassLabel`` feature when there is one; otherwise
each distinct label value is a class, as for custom files, with the same checks (empty texts,
single class, splits missing classes, non-text columns).
"""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict

from textmix.core.errors import DataError
from textmix.core.paths import DATA_DIR_ENV, data_dir
from textmix.text.custom import check_classes, check_texts, label_names
from textmix.text.datasets import SPLITS, finish_splits, make_dataset


def _from_folder(folder: Path, config_name: str | None) -> DatasetDict:
    from datasets import load_dataset, load_from_disk

    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        loaded = load_from_disk(str(folder))
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict({"train": loaded})
    try:
        return load_dataset(str(folder), config_name)
    except Exception as error:  # noqa: BLE001 - datasets raises many kinds; all mean "not a dataset folder"
        raise DataError(
            f"data.path {str(folder)!r} is neither a save_to_disk folder nor a readable copy of a Hub dataset "
            f"repository ({type(error).__name__}: {str(error)[:200]})"
        ) from None


def open_dataset(config) -> tuple[DatasetDict, str]:
    """(the splits as stored, a name for messages) from the first source that has them."""
    if config.path is not None:
        folder = Path(config.path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.path {str(folder)!r} is not a folder (data.name=hub reads a dataset folder)")
        return _from_folder(folder, config.hub_config), str(folder)
    if not config.hub_id:
        raise DataError("data.name=hub needs data.hub_id (e.g. SetFit/sst2) or data.path (a dataset folder)")
    root = data_dir()
    if root and (root / config.hub_id).is_dir():
        return _from_folder(root / config.hub_id, config.hub_config), str(root / config.hub_id)
    from datasets import load_dataset

    try:
        return load_dataset(config.hub_id, config.hub_config), config.hub_id
    except Exception as error:  # offline, unknown repository, no permission: the same advice
        raise DataError(
            f"dataset {config.hub_id!r} could not be loaded from the Hugging Face Hub ({type(error).__name__}: "
            f"{str(error)[:200]})\nProvide it in one of three ways: (1) set data.path to a save_to_disk folder or "
            f"a local copy of the repository; (2) put that folder at ${DATA_DIR_ENV}/{config.hub_id}/; "
            "(3) go online so `datasets` can download it."
        ) from None


def _labels(part: Dataset, column: str, where: str):
    """(label values, ClassLabel names or None) of one split; unlabeled rows (-1) are refused."""
    feature = part.features[column]
    values = part[column]
    if isinstance(feature, ClassLabel):
        missing = [i for i, v in enumerate(values) if v is None or v < 0]
        if missing:
            raise DataError(f"{where}: {len(missing)} rows have no label (-1), e.g. row {missing[0] + 1}; "
                            "map a labelled split instead (data.hub_splits)")  # fmt: skip
        return values, list(feature.names)
    return values, None


def load_hub_dataset(config) -> DatasetDict:
    """train / validation / test (``text``, ``label``) of ``data.name: hub`` (see module doc)."""
    raw, source = open_dataset(config)
    mapping = dict(config.hub_splits) or {s: s for s in SPLITS if s in raw}
    unknown = {ours: theirs for ours, theirs in mapping.items() if theirs not in raw or ours not in SPLITS}
    if unknown or "train" not in mapping:
        raise DataError(
            f"data.hub_splits {mapping} does not fit {source}: its splits are {sorted(raw)}; map train (and "
            f"optionally validation, test) to them, e.g. data.hub_splits={{train: {sorted(raw)[0]}}}"
        )
    for theirs in mapping.values():
        for what, column in (("text_column", config.text_column), ("label_column", config.label_column)):
            if column not in raw[theirs].column_names:
                raise DataError(f"data.{what}={column!r} is not a column of {source}:{theirs}; "
                                f"its columns: {raw[theirs].column_names}")  # fmt: skip
    labelled = {
        ours: _labels(raw[theirs], config.label_column, f"{source}:{theirs}") for ours, theirs in mapping.items()
    }
    class_names = labelled["train"][1]
    if class_names is not None:
        names, to_id = class_names, {i: i for i in range(len(class_names))}
    else:
        names, to_id = label_names([v for values, _ in labelled.values() for v in values], config.label_column, source)
    parts = {
        ours: make_dataset(
            check_texts(raw[theirs], f"{source}:{theirs}", config.text_column),
            [to_id[v] for v in labelled[ours][0]],
            names,
        )
        for ours, theirs in mapping.items()
    }
    check_classes(parts, names, source)
    if "test" not in parts:
        parts["all"] = parts.pop("train")
    splits = finish_splits(parts, config.val_fraction, config.test_fraction, config.split_seed, 0, 0)
    check_classes(splits, names, source, carved=True)
    return splits


__all__ = ["load_hub_dataset", "open_dataset"]
