"""textmix/core/registry.py: one helper behind every registry, one error class, "did you mean"."""

import pytest

from textmix.core.calibrators import CALIBRATORS
from textmix.core.conformal import SCORES
from textmix.core.errors import ArgumentError, RecipeError, TextmixError
from textmix.core.methods import METHODS
from textmix.core.registry import Registry, UnknownNameError
from textmix.engine.tasks import TASKS
from textmix.text.datasets import DATASETS, DatasetInfo, load_text_dataset, register_dataset
from textmix.text.models import MODELS


def test_names_keep_registration_order_and_a_name_registered_again_is_replaced():
    registry = Registry("widget")
    registry.add("b", 1)
    registry.add("a", 2)
    registry.add("b", 3)
    assert registry.names() == ("b", "a") and registry.get("b") == 3 and len(registry) == 2


def test_unknown_names_get_the_closest_one_and_the_known_ones_in_one_error_class():
    registry = Registry("widget")
    for name in ("sprocket", "gear"):
        registry.add(name, name)
    with pytest.raises(UnknownNameError) as caught:
        registry.get("sprockt")
    assert str(caught.value) == "widget 'sprockt' is unknown (did you mean 'sprocket'?); known: sprocket, gear"
    with pytest.raises(UnknownNameError, match=r"^widget 'zzz' is unknown; known: sprocket, gear$"):
        registry.get("zzz")
    # recipes catch RecipeError, APIs ArgumentError, the CLI TextmixError: one class is all three
    assert issubclass(UnknownNameError, RecipeError) and issubclass(UnknownNameError, ArgumentError)
    assert issubclass(UnknownNameError, TextmixError)


@pytest.mark.parametrize("registry", [METHODS, CALIBRATORS, SCORES, MODELS, TASKS, DATASETS], ids=lambda r: r.kind)
def test_every_kind_uses_the_helper_with_the_same_error(registry):
    assert isinstance(registry, Registry) and len(registry.names()) >= 2
    first = registry.names()[0]
    with pytest.raises(UnknownNameError, match=f"did you mean '{first}'"):
        registry.get(first + "x")


def test_a_class_registers_under_its_name_and_checks_run_before_it_is_added():
    def check(name, cls):
        if not hasattr(cls, "run"):
            raise ValueError(f"{name} has no run()")

    registry = Registry("plugin", check=check)

    @registry.register
    class Good:
        name = "good"

        def run(self):
            return 1

    assert registry.get("good") is Good
    with pytest.raises(ValueError, match="needs a class attribute name"):
        registry.register(type("Nameless", (), {}))
    with pytest.raises(ValueError, match="bad has no run"):
        registry.register(type("Bad", (), {"name": "bad"}))
    assert "bad" not in registry


def test_a_fallback_loads_a_name_once_and_lists_what_it_can_load():
    loaded = []

    def fallback(name):
        loaded.append(name)
        return name.upper() if name == "lazy" else None

    registry = Registry("task", fallback=fallback, extra_names=lambda: ["lazy"])
    assert registry.names() == ("lazy",)
    assert registry.get("lazy") == "LAZY" and registry.get("lazy") == "LAZY"
    assert loaded == ["lazy"]
    with pytest.raises(UnknownNameError, match="known: lazy"):
        registry.get("other")


def test_listeners_run_after_each_registration():
    registry, calls = Registry("widget"), []
    registry.on_change(lambda: calls.append(len(registry)))
    registry.add("a", 1)
    registry.add("b", 2)
    assert calls == [1, 2]


def test_a_registered_dataset_is_read_from_its_own_files_with_facts_from_its_entry(tmp_path, monkeypatch):
    """A new dataset is one entry: its files, reader and whether they hold an official test split;
    no code names it."""
    from datasets import Dataset

    def read(folder, label_set):
        lines = (folder / "all.tsv").read_text().splitlines()
        rows = [line.split("\t") for line in lines]
        split = {name: rows[i::3] for i, name in enumerate(("train", "validation", "test"))}
        return {name: Dataset.from_dict({"text": [r[1] for r in part], "label": [int(r[0]) for r in part]})
                for name, part in split.items()}  # fmt: skip

    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "all.tsv").write_text("\n".join(f"{i % 2}\ttext {i}" for i in range(30)))
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(tmp_path))
    info = DatasetInfo(hub_id="me/tiny", label_columns={"default": "label"}, label_names={"default": ["a", "b"]},
                       local_files=("all.tsv",), reader=read)  # fmt: skip
    try:
        register_dataset("tiny", info)
        parts = load_text_dataset("tiny")
        assert [len(parts[s]) for s in ("train", "validation", "test")] == [10, 10, 10]
        from textmix.text.datasets import data_source

        assert data_source("tiny")["test"] == "the official test split"
    finally:
        DATASETS.remove("tiny")
