"""Kim (2014) sentence CNN that mixes at its embedding output."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from textmix.core.mixer import MixupPlan

VARIANTS = ("rand", "static", "non-static", "multichannel")


class KimCNN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="textmix",
    tags=["text-classification", "mixup", "calibration", "textmix"],
    repo_url="https://github.com/textmix/textmix",
):
    """Convolutional sentence classifier (Kim 2014).

    Embeddings → parallel 1-D convolutions (one per window size) → ReLU → max over time →
    dropout → linear. Windows that lie wholly in a batch's padding are ignored by the max, so
    the output does not depend on how much a batch is padded.

    Args:
        vocab_size: rows of the embedding table (``<pad>`` = ``pad_id``).
        num_classes: output classes K.
        embed_dim: word vector size D.
        variant: ``rand`` (random, trained), ``static`` (pretrained, frozen), ``non-static``
            (pretrained, fine-tuned) or ``multichannel`` (one frozen and one fine-tuned copy).
        filter_sizes: convolution window widths (Kim: 3, 4, 5).
        num_filters: feature maps per window width (Kim: 100).
        dropout: dropout rate on the pooled features (Kim: 0.5).
        max_norm: L2 bound on each class's output weight vector, enforced by rescaling after
            every optimizer step (Kim: 3); None disables it.
        pad_id: id of the padding token; its embedding row is zero and receives no gradient.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 300,
        variant: str = "non-static",
        filter_sizes: tuple[int, ...] | list[int] = (3, 4, 5),
        num_filters: int = 100,
        dropout: float = 0.5,
        max_norm: float | None = 3.0,
        pad_id: int = 0,
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"Kim CNN variant must be one of {VARIANTS}, got {variant!r}")
        if not filter_sizes or min(filter_sizes) < 1:
            raise ValueError(f"filter_sizes must be positive window widths, got {filter_sizes}")
        self.variant = variant
        self.filter_sizes = tuple(filter_sizes)
        self.max_norm = max_norm
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.static_embedding = None
        if variant == "static":
            self.embedding.weight.requires_grad_(False)
        if variant == "multichannel":
            self.static_embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
            self.static_embedding.weight.requires_grad_(False)
        channels = 2 if variant == "multichannel" else 1
        # A Conv1d over the concatenated channels equals Kim's Conv2d with C input channels;
        # width − 1 zero vectors on each side, as Kim pads every sentence, so edge words get
        # as many windows as inner ones.
        self.convs = nn.ModuleList(
            nn.Conv1d(channels * embed_dim, num_filters, width, padding=width - 1) for width in self.filter_sizes
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(num_filters * len(self.filter_sizes), num_classes)

    @property
    def min_length(self) -> int:
        """Batches are padded to at least the widest window."""
        return max(self.filter_sizes)

    def load_pretrained_embeddings(self, weights: torch.Tensor) -> None:
        """Copy a (V, D) embedding matrix into the table(s); not for the ``rand`` variant."""
        if weights.shape != self.embedding.weight.shape:
            raise ValueError(
                f"embedding matrix {tuple(weights.shape)} does not match the model's "
                f"{tuple(self.embedding.weight.shape)} (vocab size, dim)"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(weights)
            if self.static_embedding is not None:
                self.static_embedding.weight.copy_(weights)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) → word features (B, T, C·D), the mix point."""
        emb = self.embedding(input_ids)
        if self.static_embedding is not None:
            emb = torch.cat([emb, self.static_embedding(input_ids)], dim=-1)
        return emb

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        plan: MixupPlan | None = None,
    ) -> torch.Tensor:
        """Logits (B, K) from token ids (B, T) or word features ``inputs_embeds`` (B, T, C·D).

        With a ``plan``, the word features and the mask are mixed before the convolutions.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C·D)
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        if plan is not None:
            x = plan.mix(x)
            attention_mask = plan.mix_mask(attention_mask)
        if x.shape[1] < self.min_length:
            raise ValueError(
                f"sequence length {x.shape[1]} is shorter than the widest filter "
                f"{self.min_length}; pad batches to at least that length"
            )
        lengths = attention_mask.sum(dim=1)  # (B,)
        x = x.transpose(1, 2)  # (B, C·D, T)
        # window t covers tokens t − w + 1 … t: it is padding unless it overlaps the sentence, i.e.
        # if t > length + w − 2. One position row for every width: on a GPU this small model's
        # step is bound by kernel launches, so each op counts (bench/step_ops.py).
        starts = torch.arange(x.shape[-1] + self.min_length - 1, device=x.device)  # (T + w_max − 1,)
        pooled = []
        for width, conv in zip(self.filter_sizes, self.convs):
            maps = F.relu(conv(x))  # (B, F, T + w − 1)
            padding = starts[None, : maps.shape[-1]] > lengths[:, None] + (width - 2)  # (B, T + w − 1)
            pooled.append(maps.masked_fill(padding[:, None, :], 0.0).amax(dim=-1))  # (B, F)
        features = self.dropout(torch.cat(pooled, dim=1))  # (B, F·len(filter_sizes))
        return self.classifier(features)

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Kim's max-norm constraint: rescale each class's weight vector to norm <= max_norm."""
        if self.max_norm is not None:
            w = self.classifier.weight
            w.copy_(torch.renorm(w, p=2, dim=0, maxnorm=self.max_norm))
