"""Where a task keeps its data: on the accelerator (one copy per process, batches cut there, no
host-to-device copy per step) or in host memory (batches copied per step).

``data.device_resident`` chooses: ``true`` (the accelerator, whatever the size), ``false`` (host
memory) or ``auto`` (the accelerator when it is a GPU and the splits take at most
``RESIDENT_SHARE`` of its free memory, leaving the rest to the model and activations).
On a CPU-only machine every setting means host memory.
"""

from __future__ import annotations

import torch
from accelerate import PartialState

RESIDENT_SETTINGS = (True, False, "auto")
RESIDENT_SHARE = 0.25  # of the GPU's free memory at setup, for `auto`


def data_device(setting: bool | str, nbytes: int) -> torch.device:
    """The device to hold ``nbytes`` of a task's tensors on, for ``data.device_resident=setting``."""
    device = PartialState().device
    if device.type == "cpu" or setting is False:
        return torch.device("cpu")
    if setting == "auto":
        free, _ = torch.cuda.mem_get_info(device) if device.type == "cuda" else (0, 0)
        return device if nbytes <= RESIDENT_SHARE * free else torch.device("cpu")
    return device
