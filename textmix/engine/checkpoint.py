"""Checkpoints for ``--resume`` that are never unpickled: tensors in safetensors, the rest in JSON.

    checkpoints/step_N/
      model.safetensors                     the (unwrapped) model
      optimizer.safetensors, optimizer.json  state tensors; structure, scalars and param groups
      scheduler.json                        the scheduler's counters (its schedule comes from the recipe)
      progress.json                         epoch, step, best epoch, history, running loss sums
      rng_R.safetensors, rng_R.json         per process R: torch (CPU, CUDA), mixer, numpy, random
      method.safetensors                    the training method's state, for methods that keep one

A checkpoint folder is written under a temporary name and renamed when complete, so a crash never
leaves half a checkpoint. Loading restores every state exactly or fails naming the file: a resume
never goes on with other randomness. Checkpoints of textmix 0.1 (accelerate's pickles) are refused.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from textmix.core.errors import RunDirError
from textmix.engine.run_directory import RunDir

# file names live in RunDir: WEIGHTS (the model), OPTIMIZER_*, SCHEDULER, PROGRESS, RNG_*
SCALARS = (bool, int, float, str, type(None))


def _is_plain(value) -> bool:
    """JSON-safe: scalars and lists of scalars (a scheduler's counters, not its functions)."""
    return isinstance(value, SCALARS) or (isinstance(value, list) and all(isinstance(v, SCALARS) for v in value))


def optimizer_state(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state dict as (tensors, JSON structure)."""
    state = optimizer.state_dict()
    tensors, entries = {}, {}
    for index, entry in state["state"].items():
        entries[str(index)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
                entries[str(index)][key] = {"tensor": f"{index}.{key}"}
            else:
                entries[str(index)][key] = {"value": value}
    return tensors, {"state": entries, "param_groups": state["param_groups"]}


def optimizer_state_dict(tensors: dict[str, torch.Tensor], structure: dict) -> dict:
    state = {
        int(index): {k: tensors[v["tensor"]] if "tensor" in v else v["value"] for k, v in entry.items()}
        for index, entry in structure["state"].items()
    }
    return {"state": state, "param_groups": structure["param_groups"]}


def rng_state(mixer) -> tuple[dict[str, torch.Tensor], dict]:
    """This process's random states: torch CPU and CUDA generators, the mixer's, numpy's, Python's."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    if mixer is not None:
        tensors["mixer"] = mixer.state_dict()["generator"]
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss = random.getstate()
    plain = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "random": [version, list(internal), gauss]}
    return tensors, {**plain, "cuda_devices": sum(k.startswith("cuda.") for k in tensors)}


def set_rng_state(tensors: dict[str, torch.Tensor], plain: dict, mixer) -> None:
    torch.set_rng_state(tensors["torch"])
    if plain["cuda_devices"]:
        torch.cuda.set_rng_state_all([tensors[f"cuda.{i}"] for i in range(plain["cuda_devices"])])
    if mixer is not None:
        mixer.load_state_dict({"generator": tensors["mixer"]})
    kind, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = plain["random"]
    random.setstate((version, tuple(internal), gauss))


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, allow_nan=False))


def save(s, step: int) -> Path:
    """Write the session's state as ``checkpoints/step_<step>`` (every process writes its RNG file).
    A failed write (disk full, quota, permissions) removes the partial folder and stops the run with
    one line: the previous checkpoint stays the one ``--resume`` continues from."""
    accelerator, run = s.accelerator, s.run
    final, tmp = run.checkpoint(step), run.checkpoints / f".step_{step}.tmp"
    try:
        _write(s, tmp, accelerator)
    except (OSError, SafetensorError) as error:  # safetensors reports I/O errors as its own type
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(error, "strerror", None) or str(error).rpartition(": ")[2]
        raise RunDirError(
            f"cannot write checkpoint {final} ({reason}); free space in {run.checkpoints} "
            "and continue with --resume (from the previous checkpoint)"
        ) from None
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in run.all_checkpoints():
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _write(s, tmp: Path, accelerator) -> None:
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    tensors, plain = rng_state(s.mixer)
    rank = accelerator.process_index
    save_file(tensors, str(tmp / RunDir.RNG_TENSORS.format(rank=rank)))
    _write_json(tmp / RunDir.RNG_STATE.format(rank=rank), plain)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(s.unwrapped, str(tmp / RunDir.WEIGHTS))
        tensors, structure = optimizer_state(s.optimizer)
        save_file(tensors, str(tmp / RunDir.OPTIMIZER_TENSORS))
        _write_json(tmp / RunDir.OPTIMIZER_LAYOUT, structure)
        scheduler = getattr(s.scheduler, "scheduler", s.scheduler)  # accelerate wraps it
        _write_json(tmp / RunDir.SCHEDULER, {k: v for k, v in scheduler.state_dict().items() if _is_plain(v)})
        _write_json(tmp / RunDir.PROGRESS, s.progress.state_dict())
        method_state = s.method.state_dict()
        if method_state:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in method_state.items()}, str(tmp / RunDir.METHOD_STATE)
            )


def _read(path: Path, reader):
    if not path.is_file():
        raise RunDirError(f"checkpoint file {path} is missing; --overwrite starts the run again")
    try:
        return reader(path)
    except Exception as error:  # noqa: BLE001 - truncated or corrupt: any reader error says so
        raise RunDirError(
            f"checkpoint file {path} is unreadable ({type(error).__name__}: {str(error)[:200]}); "
            "--overwrite starts the run again"
        ) from None


def _json(path: Path):
    return _read(path, lambda p: json.loads(p.read_text()))


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return _read(path, lambda p: load_file(str(p)))


def load(s, folder: Path) -> None:
    """Restore model, optimizer, scheduler, progress and this process's random states from ``folder``."""
    if (folder / "optimizer.bin").is_file() or (not (folder / RunDir.PROGRESS).is_file() and any(folder.glob("*.pkl"))):
        raise RunDirError(
            f"{folder} was written by textmix 0.1 (accelerate pickles), which this textmix does not load: "
            "pickles can run code; --overwrite starts the run again"
        )
    rank = s.accelerator.process_index
    rng_tensors = _tensors(folder / RunDir.RNG_TENSORS.format(rank=rank))
    rng_plain = _json(folder / RunDir.RNG_STATE.format(rank=rank))
    optimizer = optimizer_state_dict(
        _tensors(folder / RunDir.OPTIMIZER_TENSORS), _json(folder / RunDir.OPTIMIZER_LAYOUT)
    )
    scheduler_state, progress = _json(folder / RunDir.SCHEDULER), _json(folder / RunDir.PROGRESS)
    method_state = _tensors(folder / RunDir.METHOD_STATE) if (folder / RunDir.METHOD_STATE).is_file() else {}
    _read(folder / RunDir.WEIGHTS, lambda p: load_model(s.unwrapped, str(p)))
    try:
        s.optimizer.load_state_dict(optimizer)
        scheduler = getattr(s.scheduler, "scheduler", s.scheduler)
        scheduler.load_state_dict({**scheduler.state_dict(), **scheduler_state})
        s.progress.load_state_dict(progress)
        set_rng_state(rng_tensors, rng_plain, s.mixer)
        s.method.load_state_dict(method_state)
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise RunDirError(
            f"checkpoint {folder} does not fit this run ({type(error).__name__}: {str(error)[:200]}); "
            "--overwrite starts the run again"
        ) from None


__all__ = ["load", "save"]
