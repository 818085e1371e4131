"""Host-to-accelerator copies of small per-step tensors (mixing weights, crop offsets, indices)."""

from __future__ import annotations

import torch


def to_device(tensor: torch.Tensor, device: torch.device | str | None) -> torch.Tensor:
    """``tensor`` on ``device`` without making the host wait for the GPU.

    A plain ``.to("cuda")`` from pageable host memory synchronises the stream: the host then
    waits for every queued kernel, once per call and step. Pinned memory and ``non_blocking``
    queue the copy instead. CPU targets (and tensors already there) are returned as they are.

    Args:
        tensor: a (small) tensor, usually on the host.
        device: target device; None keeps the tensor where it is.
    """
    if device is None:
        return tensor
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
