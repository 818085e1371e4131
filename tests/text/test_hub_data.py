"""data.name: hub — a Hub dataset repository copied locally, a save_to_disk folder, offline errors."""

import pytest
from datasets import Dataset, DatasetDict, Features, Value

from textmix.core.errors import DataError
from textmix.engine import recipe_from_dict, train
from textmix.text.datasets import load_text_dataset
from textmix.text.hub_data import load_hub_dataset


def hub(**data):
    return recipe_from_dict({"data": {"name": "hub", **data}}).data


@pytest.fixture
def mr(real_data):
    """Real MR as a DatasetDict with the Hub's ClassLabel (neg, pos), 600 / 200 / 200 examples."""
    splits = load_text_dataset("mr")
    return DatasetDict({name: split.shuffle(seed=0).select(range(600 if name == "train" else 200))
                        for name, split in splits.items()})  # fmt: skip


def test_a_local_copy_of_a_hub_repository_with_classlabel(mr, tmp_path, monkeypatch):
    repo = tmp_path / "someone" / "mr-copy"
    (repo / "data").mkdir(parents=True)
    for name, split in mr.items():  # the layout of a Hub dataset repository (parquet shards per split)
        split.rename_columns({"text": "sentence", "label": "polarity"}).to_parquet(
            repo / "data" / f"{name}-00000-of-00001.parquet"
        )
    splits = load_hub_dataset(hub(path=str(repo), text_column="sentence", label_column="polarity"))
    assert {k: len(v) for k, v in splits.items()} == {"train": 600, "validation": 200, "test": 200}
    assert splits["train"].features["label"].names == ["neg", "pos"]
    assert splits["test"]["text"] == mr["test"]["text"] and splits["test"]["label"] == mr["test"]["label"]
    # the same folder found as $TEXTMIX_DATA_DIR/<hub_id>/
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(tmp_path))
    from_env = load_hub_dataset(hub(hub_id="someone/mr-copy", text_column="sentence", label_column="polarity"))
    assert from_env["test"]["text"] == splits["test"]["text"]


def test_a_save_to_disk_folder_with_a_split_mapping_trains(mr, tmp_path, monkeypatch):
    folder = tmp_path / "mr_disk"
    DatasetDict({"training": mr["train"], "heldout": mr["test"]}).save_to_disk(str(folder))
    recipe = recipe_from_dict(
        {
            "method": "mixup",
            "data": {"name": "hub", "path": str(folder), "hub_splits": {"train": "training", "test": "heldout"}},
            "model": {"num_filters": 8},
            "train": {"epochs": 1, "batch_size": 25},
        }
    )
    metrics = train(recipe, tmp_path / "run")
    assert metrics["data"]["splits"] == {"train": 540, "validation": 60, "test": 200}  # validation carved, 10%
    assert metrics["test"]["n"] == 200 and metrics["data"]["num_classes"] == 2
    with pytest.raises(
        DataError, match=r"data.hub_splits \{'train': 'train'\} does not fit .*\['heldout', 'training'\]"
    ):
        load_hub_dataset(hub(path=str(folder), hub_splits={"train": "train"}))


def test_labels_without_classlabel_are_names_and_the_usual_checks_apply(tmp_path):
    rows = {"text": [f"film {i}" for i in range(40)], "label": [1 + i % 2 for i in range(40)]}
    features = Features({"text": Value("string"), "label": Value("int64")})
    DatasetDict({"train": Dataset.from_dict(rows, features=features)}).save_to_disk(str(tmp_path / "ints"))
    splits = load_hub_dataset(hub(path=str(tmp_path / "ints")))
    assert splits["train"].features["label"].names == ["1", "2"]  # no phantom class 0
    rows["text"][3] = "  "
    DatasetDict({"train": Dataset.from_dict(rows, features=features)}).save_to_disk(str(tmp_path / "blank"))
    with pytest.raises(DataError, match=r"empty or whitespace-only texts .* at rows 4 "):
        load_hub_dataset(hub(path=str(tmp_path / "blank")))


def test_offline_the_error_names_the_three_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"(?s)could not be loaded from the Hugging Face Hub.*three ways.*data.path.*"
                                        r"\$TEXTMIX_DATA_DIR/nobody/nothing/.*go online") as error:  # fmt: skip
        load_hub_dataset(hub(hub_id="nobody/nothing"))
    assert "\n" in str(error.value)
    with pytest.raises(Exception, match="data.name=hub needs data.hub_id"):
        hub()
