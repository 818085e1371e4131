"""The API reference (docs/api.md) is generated from the docstrings: every public name and every
public method and property of a public class is documented, and the file is current."""

from pathlib import Path

from textmix.api_reference import MODULES, entries, render, undocumented

REPO = Path(__file__).resolve().parents[1]


def test_every_public_name_has_a_docstring():
    assert undocumented() == [], "document these (the API reference shows each docstring)"


def test_the_reference_covers_the_entry_points_users_call():
    names = {name for name, _, _ in entries()}
    assert {"textmix.load_model", "textmix.text.predict.CalibratedClassifier.predict_proba",
            "textmix.text.export.export_model", "textmix.engine.train",
            "textmix.integrations.transformers.MixupTrainer", "textmix.Calibrator.fit"} <= names  # fmt: skip
    assert all(name.startswith(MODULES) for name in names)


def test_docs_api_md_is_current():
    assert (REPO / "docs" / "api.md").read_text() == render(), "run: python -m textmix.api_reference docs/api.md"
