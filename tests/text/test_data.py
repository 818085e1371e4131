"""Datasets read from the real files in ../shared/data (skipped when absent)."""

import json
from collections import Counter

import numpy as np
import pytest

from textmix.core.errors import DataError
from textmix.core.registry import UnknownNameError
from textmix.core.splits import kfold_test_indices, stratified_split
from textmix.text.custom import load_custom_dataset
from textmix.text.datasets import load_text_dataset


def counts(split):
    return dict(Counter(split["label"]))


def test_mr_raw_files(real_data):
    mr = load_text_dataset("mr")
    assert {k: len(v) for k, v in mr.items()} == {"train": 8530, "validation": 1066, "test": 1066}
    assert sum(len(v) for v in mr.values()) == 5331 * 2
    for split in mr.values():  # stratified: both classes equally represented
        assert abs(counts(split)[0] - counts(split)[1]) <= 1
    texts = [t for split in mr.values() for t in split["text"]]
    assert len(set(texts)) >= 10600  # a handful of duplicate sentences exist in the raw data
    # cp1252: \x85 is an ellipsis inside a sentence, not a line break
    assert any("\u2026" in t for t in texts)
    assert any(t.startswith("'compleja e intelectualmente retadora") for t in texts)
    assert mr.keys() == load_text_dataset("mr").keys()
    assert mr["test"]["text"] == load_text_dataset("mr")["test"]["text"]  # deterministic
    assert mr["test"]["text"] != load_text_dataset("mr", seed=5)["test"]["text"]


def test_mr_ten_fold_cross_validation(real_data):
    tests = [set(load_text_dataset("mr", cv_folds=10, fold=k)["test"]["text"]) for k in (0, 1)]
    assert not tests[0] & tests[1]
    fold = load_text_dataset("mr", cv_folds=10, fold=3)
    assert len(fold["test"]) in (1066, 1067)
    assert sum(len(v) for v in fold.values()) == 10662
    with pytest.raises(DataError, match="data.fold must be in"):
        load_text_dataset("mr", cv_folds=10, fold=10)


@pytest.mark.data("trec")
def test_trec_coarse_and_fine(real_data):
    trec = load_text_dataset("trec")
    assert len(trec["train"]) + len(trec["validation"]) == 5452
    assert len(trec["test"]) == 500
    names = trec["test"].features["label"].names
    test_counts = {names[k]: v for k, v in counts(trec["test"]).items()}
    assert test_counts == {"DESC": 138, "NUM": 113, "ENTY": 94, "LOC": 81, "HUM": 65, "ABBR": 9}
    train_counts = Counter()
    for split in ("train", "validation"):
        train_counts.update({names[k]: v for k, v in counts(trec[split]).items()})
    assert train_counts == {"ENTY": 1250, "HUM": 1223, "DESC": 1162, "NUM": 896, "LOC": 835, "ABBR": 86}
    stray = [t for s in ("train", "validation") for t in trec[s]["text"] if "sister" in t and "Los Angeles" in t]
    assert stray and "\xf0" not in stray[0]
    fine = load_text_dataset("trec", label_set="fine")
    assert len(set(fine["train"]["label"]) | set(fine["validation"]["label"])) == 50
    assert fine["train"].features["label"].num_classes == 50


@pytest.mark.data("imdb")
def test_imdb_jsonl(real_data):
    imdb = load_text_dataset("imdb")
    assert len(imdb["train"]) + len(imdb["validation"]) == 25000
    assert len(imdb["validation"]) == 2500
    assert counts(imdb["test"]) == {1: 12500, 0: 12500}


def test_imdb_acl_folder(tmp_path):
    for split in ("train", "test"):
        for label, sub in enumerate(("neg", "pos")):
            folder = tmp_path / "aclImdb" / split / sub
            folder.mkdir(parents=True)
            for i in range(10):
                (folder / f"{i}_{7 + 3 * label if label else 2}.txt").write_text(f"{sub} review {i}<br />end")
    imdb = load_text_dataset("imdb", path=tmp_path)
    assert len(imdb["test"]) == 20 and counts(imdb["test"]) == {0: 10, 1: 10}
    assert len(imdb["train"]) + len(imdb["validation"]) == 20


def test_explicit_path_that_does_not_hold_the_data(tmp_path):
    with pytest.raises(DataError, match="does not hold 'mr'.*rt-polarity.pos"):
        load_text_dataset("mr", path=tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        load_text_dataset("mr", path=tmp_path / "missing")


def test_offline_without_data_names_three_ways(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DataError) as error:
        load_text_dataset("trec")
    message = str(error.value)
    assert "data.path" in message and "TEXTMIX_DATA_DIR" in message and "CogComp/trec" in message


def test_unknown_dataset_and_label_set():
    with pytest.raises(UnknownNameError, match="dataset 'sst' is unknown; known: mr, trec, imdb"):
        load_text_dataset("sst")
    with pytest.raises(DataError, match="label sets"):
        load_text_dataset("trec", label_set="medium")


def test_stratified_split_is_seeded_and_stratified():
    labels = np.array([0] * 90 + [1] * 10)
    kept, held = stratified_split(labels, 0.2, seed=3)
    assert len(held) == 20 and (labels[held] == 1).sum() == 2
    assert np.array_equal(held, stratified_split(labels, 0.2, seed=3)[1])
    assert set(kept) | set(held) == set(range(100)) and not set(kept) & set(held)
    folds = [kfold_test_indices(labels, 5, k, 0) for k in range(5)]
    assert sorted(np.concatenate(folds).tolist()) == list(range(100))


def test_custom_csv_jsonl_parquet(tmp_path):
    rows = [{"review": f"text number {i}", "sentiment": "good" if i % 3 else "bad"} for i in range(60)]
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame.to_parquet(tmp_path / "data.parquet")
    for name in ("data.csv", "data.jsonl", "data.parquet"):
        ds = load_custom_dataset(tmp_path / name, text_column="review", label_column="sentiment")
        assert sum(len(v) for v in ds.values()) == 60
        assert ds["train"].features["label"].names == ["bad", "good"]
    with pytest.raises(DataError, match=r"data.label_column='label' is not a column.*'review', 'sentiment'"):
        load_custom_dataset(tmp_path / "data.csv", text_column="review")


def test_custom_folder_with_splits(tmp_path):
    for split, n in (("train", 30), ("test", 10)):
        (tmp_path / f"{split}.jsonl").write_text(
            "".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(n))
        )
    ds = load_custom_dataset(tmp_path)
    assert len(ds["test"]) == 10 and len(ds["train"]) + len(ds["validation"]) == 30
    assert ds["train"].features["label"].names == ["0", "1"]
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": "x", "label": -1}) + "\n")
    with pytest.raises(DataError, match=r"has one class only \(\{'-1': 1\}\)"):
        load_custom_dataset(tmp_path)


def test_custom_labels_outside_the_training_classes_and_empty_splits(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(20))
    )
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "x", "label": 5}) + "\n")
    with pytest.raises(DataError, match="label '5' occurs in the test file .* but not in its train data"):
        load_custom_dataset(tmp_path)

    from textmix.engine.recipe import recipe_from_dict
    from textmix.text.task import load_splits

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.csv").write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(20)))
    (empty / "test.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="cannot read the custom data files .*test.csv.* at least one row"):
        load_splits(recipe_from_dict({"data": {"name": "custom", "path": str(empty)}}).data)


# --- data that must be refused (docs/reliability.md) ------------------------------------------


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def rows_csv(n: int = 30, label=lambda i: "pos" if i % 2 else "neg", text=lambda i: f"film {i}") -> str:
    return "text,label\n" + "".join(f"{text(i)},{label(i)}\n" for i in range(n))


def test_empty_and_whitespace_texts_are_refused_with_their_rows(tmp_path):
    body = rows_csv(text=lambda i: '""' if i == 2 else "   " if i == 5 else f"film {i}")
    with pytest.raises(DataError, match=r"empty or whitespace-only texts in column 'text' at rows 3, 6 \(2 in all"):
        load_custom_dataset(write(tmp_path / "d.csv", body))


def test_one_class_and_splits_missing_classes_are_refused_with_counts(tmp_path):
    with pytest.raises(DataError, match=r"has one class only \(\{'pos': 30\}\)"):
        load_custom_dataset(write(tmp_path / "d.csv", rows_csv(label=lambda i: "pos")))
    folder = tmp_path / "split"
    folder.mkdir()
    write(folder / "train.csv", rows_csv(label=lambda i: ["a", "b", "c"][i % 3]))
    write(folder / "test.csv", rows_csv(10, label=lambda i: ["a", "b"][i % 2]))
    with pytest.raises(
        DataError, match=r"the test file .* has no example of \['c'\].*train: \{'a': 10, 'b': 10, 'c': 10\}"
    ):
        load_custom_dataset(folder)
    rare = rows_csv(40, label=lambda i: "rare" if i == 0 else "pos" if i % 2 else "neg")
    with pytest.raises(DataError, match=r"carved .* split .* has no example of \['rare'\].*too few examples"):
        load_custom_dataset(write(tmp_path / "rare.csv", rare))


def test_labels_are_names_not_positions(tmp_path, caplog):
    ds = load_custom_dataset(write(tmp_path / "d.csv", rows_csv(label=lambda i: 1 + i % 2)))
    assert ds["train"].features["label"].names == ["1", "2"]  # no phantom class 0
    spaced = load_custom_dataset(
        write(tmp_path / "s.csv", rows_csv(label=lambda i: '"pos "' if i % 4 == 1 else "pos" if i % 2 else "neg"))
    )
    assert spaced["train"].features["label"].names == ["neg", "pos"]
    assert "surrounding whitespace: removed" in caplog.text
    cased = load_custom_dataset(write(tmp_path / "c.csv", rows_csv(60, label=lambda i: ["pos", "Pos", "neg"][i % 3])))
    assert cased["train"].features["label"].names == ["Pos", "neg", "pos"]
    assert "differ only in case: kept as separate classes" in caplog.text


def test_undecodable_bytes_name_the_line_and_data_encoding(tmp_path):
    body = rows_csv(text=lambda i: "caf\xe9 film" if i == 4 else f"film {i}")
    path = write(tmp_path / "d.csv", body, "latin-1")
    with pytest.raises(DataError, match=r"d.csv line 6 is not valid utf-8 \(byte 0xe9\); set data.encoding"):
        load_custom_dataset(path)
    ds = load_custom_dataset(path, encoding="latin-1")
    assert "café film" in [t for split in ds.values() for t in split["text"]]


def test_malformed_json_duplicate_columns_and_non_text_columns_are_named(tmp_path):
    lines = [json.dumps({"text": f"t{i}", "label": i % 2}) for i in range(20)]
    lines[7] = '{"text": "t7", "label": '
    with pytest.raises(DataError, match=r"d.jsonl line 8 is not valid JSON"):
        load_custom_dataset(write(tmp_path / "d.jsonl", "\n".join(lines)))
    with pytest.raises(DataError, match=r"duplicate column names \['text'\]"):
        load_custom_dataset(write(tmp_path / "dup.csv", "text,text,label\n" + "a,b,pos\n" * 20))
    numbers = "text,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20))
    with pytest.raises(
        DataError, match=r"data.text_column='text' of .*n.csv holds int64 values \(row 1: 0\), not text"
    ):
        load_custom_dataset(write(tmp_path / "n.csv", numbers))


@pytest.mark.parametrize("classes,per_class", [(5, 1), (5000, 2)])
def test_too_few_examples_a_class_are_refused_with_the_class_counts(tmp_path, classes, per_class):
    """One row per class, or 5,000 classes of 2: no stratified 10% split can hold any of them."""
    rows = "".join(f"review {c}-{i},label{c}\n" for c in range(classes) for i in range(per_class))
    write(tmp_path / "data.csv", "text,label\n" + rows)
    with pytest.raises(DataError, match=f"in {classes} classes leaves an empty part: the classes have {per_class} to "
                       f"{per_class} examples, and a class needs at least 5"):  # fmt: skip
        load_custom_dataset(tmp_path / "data.csv", "text", "label", 0.1, 0.1, 0)
