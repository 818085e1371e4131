"""Where textmix looks for shared data and keeps its caches: the one place for both rules.

- ``$TEXTMIX_DATA_DIR``: a folder of local dataset copies (``mr/``, ``trec/``, ``cifar10/``...);
  unset or empty: none.
- ``$TEXTMIX_CACHE``: the cache root (parsed vectors, decoded images, torchvision downloads);
  unset or empty: ``~/.cache/textmix``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "TEXTMIX_DATA_DIR"
CACHE_ENV = "TEXTMIX_CACHE"


def data_dir() -> Path | None:
    """The local data folder, or None when ``$TEXTMIX_DATA_DIR`` is unset or empty."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>``: where one kind of cached file lives."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "textmix").expanduser() / kind
