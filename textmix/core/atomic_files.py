"""Atomic file output: write to a temporary sibling, then rename over the target."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np


def temporary_path(path: Path, suffix: str = "") -> Path:
    """A hidden sibling of ``path`` unique to this process, for writing before ``os.replace``:
    concurrent writers of one file (parallel runs filling the same cache) never share it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | os.PathLike, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_save_npz(path: str | os.PathLike, compress: bool = True, **arrays: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, ".npz")  # numpy appends .npz to any other name
    (np.savez_compressed if compress else np.savez)(tmp, **arrays)
    os.replace(tmp, path)
    return path


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a fully written folder ``tmp`` to ``target``, replacing an older one."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)


def current_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def readable_as_umask(folder: Path) -> None:
    """Give every file in ``folder`` the mode a plain ``open`` would (0666 less the umask): some
    writers (safetensors, temporary files) create 0600 files that others sharing the folder cannot read."""
    mask = current_umask()
    for path in Path(folder).iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~mask)
