"""Text model registry: ``MODELS.get(name)`` says how to build a model from its featurizer and options.

A textmix text model is an ``nn.Module`` whose ``forward(input_ids, attention_mask, plan=None)``
returns logits (B, K) and applies ``plan.mix`` (and ``plan.mix_mask``) at its mix point. To train
your own with the engine, register it::

    textmix.text.models.register_model("my_model", build=my_build, featurizer="words")

where ``my_build(featurizer, num_classes, embeddings, config)`` returns the module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from textmix.core.errors import RecipeError
from textmix.core.mixer import MixPoint
from textmix.core.registry import Registry
from textmix.text.models.kim_cnn import KimCNN
from textmix.text.models.transformer import MIX_POINTS as TRANSFORMER_MIX_POINTS
from textmix.text.models.transformer import TransformerClassifier


def load_pretrained(cls: type, folder) -> nn.Module:
    """``cls.from_pretrained(folder)`` without the Hub mixin's "Loading weights" print (stdout is
    for results, and a log full of it says nothing), after the folder is checked for custom code."""
    from textmix.text.hf_loading import refuse_custom_code

    refuse_custom_code(folder)
    with contextlib.redirect_stdout(io.StringIO()):
        return cls.from_pretrained(folder)


@dataclass(frozen=True)
class ModelEntry:
    """How the text task builds one kind of model.

    Args:
        build: ``build(featurizer, num_classes, embeddings, config)`` → module, where
            ``embeddings`` is the pretrained (V, D) matrix for ``words`` featurizers (None for
            ``hf``) and ``config`` the recipe's model section with its ``options`` and the
            ``mix_point`` as attributes (see :func:`build_config`).
        featurizer: ``words`` (Kim tokenizer, vocabulary, word vectors) or ``hf`` (the
            checkpoint's own tokenizer, from ``config.pretrained``).
        cls: class with ``from_pretrained`` to reload a saved model (None: state dict only).
        mix_points: the ``mixup.mix_point`` values the model supports (``hidden:K`` for any
            layer K); None: not checked.
        after_step: ``after_step(model)`` after every optimizer step (e.g. a weight constraint).
        min_tokens: ``min_tokens(model_section)``: the shortest input the model accepts (words
            featurizers pad to it, e.g. the Kim CNN's widest filter); None: 1.
        vector_points: the mix points that carry one vector per text (B, D); the others carry
            token sequences (B, T, D) (methods that mix sequences only are refused on these).
        reads: the model section's keys ``build`` reads (None: all). The others are left out when
            a run's saved recipe is compared (resume, sweeps), so a default changed for one kind of
            model (``pooling``, round 4) never makes another's runs look like another recipe.
    """

    build: Callable[..., nn.Module]
    featurizer: str
    cls: type | None = None
    mix_points: tuple[str, ...] | None = None
    after_step: Callable[[nn.Module], None] | None = None
    min_tokens: Callable[[object], int] | None = None
    vector_points: tuple[str, ...] = ()
    reads: tuple[str, ...] | None = None

    def supports(self, mix_point: str) -> bool:
        if self.mix_points is None:
            return True
        try:
            MixPoint.parse(mix_point, self.mix_points)
        except ValueError:
            return False
        return True


def build_config(model_section, mix_point: str) -> types.SimpleNamespace:
    """The model section's keys, its ``options`` and ``mix_point`` as one namespace for ``build``."""
    values = {k: v for k, v in dataclasses.asdict(model_section).items() if k != "options"}
    clash = sorted(set(model_section.options) & {*values, "mix_point"})
    if clash:
        raise RecipeError(f"model.options {clash} repeat model keys; set them as model.<key> instead")
    return types.SimpleNamespace(**values, **model_section.options, mix_point=mix_point)


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
    # "rand" keeps its random initialization; the task passes U[-0.25, 0.25] rows for it too
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


def _check_model(name: str, entry: ModelEntry) -> None:
    if entry.featurizer not in ("words", "hf"):
        raise ValueError(f"featurizer must be 'words' or 'hf', got {entry.featurizer!r}")


MODELS: Registry[ModelEntry] = Registry("model", check=_check_model)
MODELS.add(
    "kim_cnn",
    ModelEntry(_build_kim_cnn, featurizer="words", cls=KimCNN, mix_points=("embeddings",),
               after_step=KimCNN.after_optimizer_step, min_tokens=lambda section: max(section.filter_sizes),
               reads=("variant", "embed_dim", "filter_sizes", "num_filters", "dropout", "max_norm")),
)  # fmt: skip
MODELS.add(
    "transformer",
    ModelEntry(
        _build_transformer,
        featurizer="hf",
        cls=TransformerClassifier,
        mix_points=TRANSFORMER_MIX_POINTS,
        vector_points=("pooled",),
        reads=("pretrained", "pooling", "dropout"),
    ),
)


def register_model(
    name: str,
    build: Callable[..., nn.Module],
    featurizer: str = "words",
    cls: type | None = None,
    mix_points: tuple[str, ...] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    min_tokens: Callable[[object], int] | None = None,
    vector_points: tuple[str, ...] = (),
) -> None:
    """Add a model to the registry so recipes can name it (``model.name``); see :class:`ModelEntry`."""
    MODELS.add(name, ModelEntry(build, featurizer, cls, mix_points, after_step, min_tokens, vector_points))


__all__ = ["MODELS", "ModelEntry", "KimCNN", "TransformerClassifier", "build_config", "register_model"]
