"""Batched random crop and horizontal flip, on whatever device the images are (no per-image Python).

The offsets are drawn on the host from the global torch RNG (checkpointed with the run), in the
order the per-image reference drew them, so CPU and GPU batches are the same crops and flips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textmix.core.transfer import to_device


def draw_crop_flip(batch_size: int, padding: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop offsets and flips for a batch: top (B,) and left (B,) in [0, 2·padding], flip (B,) bool
    with probability 1/2. Uses the global torch RNG."""
    top = torch.randint(0, 2 * padding + 1, (batch_size,))
    left = torch.randint(0, 2 * padding + 1, (batch_size,))
    flip = torch.rand(batch_size) < 0.5
    return top, left, flip


def crop_flip(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, padding: int = 4):
    """Crop each zero-padded image at (top, left) to its size and mirror the flipped ones.

    Args:
        images: (B, C, H, W), any dtype (uint8 is cheapest: crop before converting).
        top, left: (B,) offsets into the padded image, in [0, 2·padding].
        flip: (B,) bool, mirror left–right.
        padding: zero pixels added on every side before cropping.

    Returns:
        (B, C, H, W) on the images' device: one gather, the same pixels as slicing image by image.
    """
    b, c, h, w = images.shape
    device = images.device
    top, left, flip = to_device(torch.stack([top, left, flip.long()]), device)  # one copy to the device
    flip = flip.bool()
    padded = F.pad(images, (padding,) * 4)  # (B, C, H + 2p, W + 2p)
    rows = top[:, None] + torch.arange(h, device=device)  # (B, H)
    cols = left[:, None] + torch.arange(w, device=device)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a mirrored crop reads its columns backwards
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def random_crop_flip(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Random crop of the zero-padded batch and horizontal flip with probability 1/2: (B, C, H, W) → same."""
    return crop_flip(images, *draw_crop_flip(len(images), padding), padding=padding)
