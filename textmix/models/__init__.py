"""Model registry: ``MODELS[name]`` says how to build a model from its featurizer and options.

A textmix text model is an ``nn.Module`` whose ``forward(input_ids, attention_mask, plan=None)``
returns logits (B, K) and applies ``plan.mix`` (and ``plan.mix_mask``) at its mix point. To train
your own with the engine, register it::

    textmix.models.register_model("my_model", build=my_build, featurizer="words")

where ``my_build(featurizer, num_classes, embeddings, config)`` returns the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from textmix.models.kim_cnn import KimCNN
from textmix.models.transformer import TransformerClassifier


@dataclass(frozen=True)
class ModelEntry:
    """How the engine builds one kind of model.

    Args:
        build: ``build(featurizer, num_classes, embeddings, config)`` → module, where
            ``embeddings`` is the pretrained (V, D) matrix for ``words`` featurizers (None for
            ``hf``) and ``config`` the recipe's model section.
        featurizer: ``words`` (Kim tokenizer, vocabulary, word vectors) or ``hf`` (the
            checkpoint's own tokenizer, from ``config.pretrained``).
        cls: class with ``from_pretrained`` to reload a saved model (None: state dict only).
    """

    build: Callable[..., nn.Module]
    featurizer: str
    cls: type | None = None


def _build_kim_cnn(featurizer, num_classes, embeddings, config) -> KimCNN:
    model = KimCNN(
        vocab_size=featurizer.vocab_size,
        num_classes=num_classes,
        embed_dim=embeddings.shape[1],
        variant=config.variant,
        filter_sizes=list(config.filter_sizes),
        num_filters=config.num_filters,
        dropout=config.dropout,
        max_norm=config.max_norm,
    )
    # "rand" keeps its random initialization; the engine passes U[-0.25, 0.25] rows for it too
    model.load_pretrained_embeddings(embeddings)
    return model


def _build_transformer(featurizer, num_classes, embeddings, config) -> TransformerClassifier:
    return TransformerClassifier.from_backbone(
        config.pretrained,
        num_classes,
        pooling=config.pooling,
        dropout=config.dropout,
        mix_point=config.mix_point,
    )


MODELS: dict[str, ModelEntry] = {
    "kim_cnn": ModelEntry(build=_build_kim_cnn, featurizer="words", cls=KimCNN),
    "transformer": ModelEntry(build=_build_transformer, featurizer="hf", cls=TransformerClassifier),
}


def register_model(
    name: str, build: Callable[..., nn.Module], featurizer: str = "words", cls: type | None = None
) -> None:
    """Add a model to the registry so recipes can name it (``model.name``)."""
    if featurizer not in ("words", "hf"):
        raise ValueError(f"featurizer must be 'words' or 'hf', got {featurizer!r}")
    MODELS[name] = ModelEntry(build=build, featurizer=featurizer, cls=cls)


def create_model(name: str, **kwargs) -> nn.Module:
    """Instantiate a registered model class directly from its constructor arguments."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    if MODELS[name].cls is None:
        raise ValueError(f"model {name!r} was registered without a class; call its build function")
    return MODELS[name].cls(**kwargs)


__all__ = ["MODELS", "ModelEntry", "KimCNN", "TransformerClassifier", "create_model", "register_model"]
