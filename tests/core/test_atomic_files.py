import json

import pytest

from textmix.core.atomic_files import atomic_write_json


def test_atomic_json_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"accuracy": 0.8})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"accuracy": object()})  # not serializable: fails before any write
    assert json.loads(path.read_text()) == {"accuracy": 0.8}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind
