"""The text task: recipe sections, datasets → featurizer → model → length-bucketed loaders, saving
and reloading text models, and sharing them on the Hub after training."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from pathlib import Path

import numpy as np
import torch.nn as nn
from datasets import DatasetDict

from textmix.core.atomic_files import atomic_write_text
from textmix.core.errors import DataError, RecipeError
from textmix.core.splits import stratified_subset
from textmix.engine.recipe import Recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import EvalSet, TaskData, data_device
from textmix.text.config import HubConfig, TextDataConfig, TextModelConfig
from textmix.text.custom import load_custom_dataset, load_labelled_file
from textmix.text.datasets import DATASETS, data_source, load_text_dataset, make_dataset
from textmix.text.features import HFFeaturizer, WordFeaturizer, load_featurizer
from textmix.text.hub_data import load_hub_dataset
from textmix.text.loaders import encode_split, make_loader, model_inputs
from textmix.text.models import MODELS, build_config, load_pretrained
from textmix.text.models.transformer import resolve_checkpoint
from textmix.text.ood import OOD_NOISE, ood_sets
from textmix.text.tokenization import Vocabulary

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = {"words": 400, "hf": 128}


def load_splits(config: TextDataConfig) -> DatasetDict:
    """The recipe's dataset as train / validation / test (``text``, ``label``)."""
    if config.name == "hub":
        splits = load_hub_dataset(config)
    elif config.name == "custom":
        splits = load_custom_dataset(
            config.path, config.text_column, config.label_column, config.val_fraction, config.test_fraction,
            config.split_seed, config.encoding,
        )  # fmt: skip
    else:
        splits = load_text_dataset(
            config.name, config.path, config.label_set, config.val_fraction, config.test_fraction,
            config.split_seed, config.cv_folds, config.fold,
        )  # fmt: skip
    if config.max_train_examples is not None and config.max_train_examples < len(splits["train"]):
        keep = stratified_subset(splits["train"]["label"], config.max_train_examples, config.split_seed + 2)
        splits["train"] = splits["train"].select(keep)
    for name, split in splits.items():
        if len(split) == 0:
            raise DataError(f"the {name} split of {config.name!r} is empty")
    return splits


def describe_source(config: TextDataConfig) -> dict:
    """What the recipe's data section reads, for ``metrics.json["data"]["source"]`` and the card."""
    if config.name == "custom":
        return {"read": "custom", "path": str(config.path), "test": "its test file, or a carved share"}
    if config.name == "hub":
        where = {"hub_id": config.hub_id} if config.path is None else {"path": str(config.path)}
        return {"read": "hub" if config.path is None else "files", **where, "config": config.hub_config,
                "test": f"split {dict(config.hub_splits).get('test', 'test')}"}  # fmt: skip
    return data_source(config.name, config.path, config.test_fraction, config.split_seed, config.cv_folds, config.fold)


def shift_splits(shift: list[str], config: TextDataConfig, names: list[str]) -> dict:
    """``eval.shift`` test sets (a built-in dataset's test split or every row of a file with the
    data section's columns), their labels mapped by name onto the training labels ``names``; a set
    with another label space is refused."""
    out = {}
    for name in shift:
        if name in DATASETS:
            split = load_text_dataset(name)["test"]
        else:
            split = load_labelled_file(name, config.text_column, config.label_column, config.encoding)
        theirs = list(split.features["label"].names)
        if not set(theirs) <= set(names):
            raise DataError(f"eval.shift {name!r} has labels {theirs}, the model was trained on {names}: the same "
                            "label names are needed")  # fmt: skip
        to_ours = {i: names.index(n) for i, n in enumerate(theirs)}
        out[name] = make_dataset(split["text"], [to_ours[v] for v in split["label"]], names)
    return out


def label_names(splits: DatasetDict) -> list[str]:
    return list(splits["train"].features["label"].names)


def build_featurizer(data: TextDataConfig, model: TextModelConfig, splits: DatasetDict, kv=None):
    """Kim tokenizer + vocabulary (``words``) or the checkpoint's tokenizer (``hf``)."""
    kind = MODELS.get(model.name).featurizer
    max_length = data.max_length or DEFAULT_MAX_LENGTH[kind]
    if kind == "hf":
        return HFFeaturizer.from_pretrained(resolve_checkpoint(model.pretrained), max_length)
    tokenize = WordFeaturizer(Vocabulary(["<pad>", "<unk>"]), data.lowercase, max_length).tokenize
    train_tokens = [tokenize(t) for t in splits["train"]["text"]]
    # Like Kim's code, evaluation words that have a pretrained vector get their own id (no labels
    # are used); other unseen words map to <unk>.
    extra = []
    if kv is not None:
        extra = [
            t
            for name in ("validation", "test")
            for text in splits[name]["text"]
            for t in tokenize(text)
            if t in kv.key_to_index
        ]
    vocab = Vocabulary.build(train_tokens, data.min_freq, extra)
    entry = MODELS.get(model.name)
    min_length = entry.min_tokens(model) if entry.min_tokens else 1
    return WordFeaturizer(vocab, data.lowercase, max_length, min_length)


def build_model(recipe: Recipe, splits: DatasetDict) -> tuple[nn.Module, object, dict]:
    """Model, featurizer and a dict of facts to log (vector coverage)."""
    entry = MODELS.get(recipe.model.name)
    num_classes = len(label_names(splits))
    facts: dict = {"num_classes": num_classes, "splits": {k: len(v) for k, v in splits.items()}}
    embeddings, kv = None, None
    if entry.featurizer == "words":
        from textmix.text.vectors import embedding_matrix, load_vectors, token_coverage  # gensim: word models only

        use_vectors = recipe.data.vectors.lower() != "none" and recipe.model.variant != "rand"
        kv = load_vectors(recipe.data.vectors) if use_vectors else None
        featurizer = build_featurizer(recipe.data, recipe.model, splits, kv)
        embeddings = embedding_matrix(
            featurizer.vocab, kv, None if kv is not None else recipe.model.embed_dim, seed=recipe.train.seed
        )
        if kv is not None:
            coverage = token_coverage([featurizer.tokenize(t) for t in splits["train"]["text"]], kv)
            logger.info("%s (train split, %s)", coverage, recipe.data.vectors)
            facts["coverage"] = {
                "types": coverage.type_rate,
                "tokens": coverage.token_rate,
                "types_found": coverage.types_found,
                "types_total": coverage.types_total,
            }
    else:
        featurizer = build_featurizer(recipe.data, recipe.model, splits)
    config = build_config(recipe.model, recipe.mixup.mix_point)
    try:
        model = entry.build(featurizer, num_classes, embeddings, config)
    except (TypeError, ValueError) as error:
        raise RecipeError(f"model {recipe.model.name!r} cannot be built from this recipe: {error}") from None
    if "gaussian_noise" in recipe.eval.ood and not hasattr(model, "embed"):
        raise RecipeError(f"eval.ood gaussian_noise needs a model with an embed() method; {recipe.model.name} has none")
    return model, featurizer, facts


def save_text_model(model: nn.Module, featurizer, folder: Path) -> None:
    """Weights (``model.safetensors``) and config through the Hub mixin when the model has one, and
    the featurizer (vocabulary or tokenizer files)."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder)
    else:
        from safetensors.torch import save_model

        save_model(model, str(folder / RunDir.WEIGHTS))
    featurizer.save(folder)


def _placement(data: TextDataConfig, compiled: bool, encoded: dict) -> dict:
    """Loader keywords: the data's device and, for a compiled model (``train.compile``), lengths
    rounded to multiples of 16 so that it sees few shapes. Size bound for ``auto``: int64 token and
    mask tables (16 bytes a position) with every text padded to max_length."""
    limit = data.max_length or 512
    nbytes = sum(16 * limit * len(split) for split in encoded.values())
    return {"device": data_device(data.device_resident, nbytes), "pad_multiple": 16 if compiled else 1}


class TextTask:
    """``task: text``: MR / TREC / IMDB / custom files, Kim CNN and transformers (see module doc)."""

    sections = {"data": TextDataConfig, "model": TextModelConfig, "hub": HubConfig}
    legacy_keys = {"data.augment": True}  # a vision key every resolved recipe held before 0.2
    default_mix_point = "embeddings"

    @staticmethod
    def dataset_label(data: dict) -> str:
        """The dataset's name in reports: the built-in name, or a custom file's / Hub dataset's own
        name (reviews for data/reviews.csv, sst2 for stanfordnlp/sst2), so two are never both "custom"."""
        path = data.get("path")
        if data["name"] in ("custom", "hub") and path:
            return re.sub(r"[^\w.-]+", "-", Path(str(path).rstrip("/\\")).stem) or data["name"]
        return data["name"]

    @staticmethod
    def unread_keys(model_name: str) -> list[str]:
        """The dotted model keys the named model does not read (the Kim CNN reads no pooling)."""
        reads = MODELS.get(model_name).reads if model_name in MODELS else None
        keys = [f.name for f in dataclasses.fields(TextModelConfig) if f.name not in ("name", "options")]
        return [] if reads is None else [f"model.{key}" for key in keys if key not in reads]

    @staticmethod
    def mix_point_kind(model: TextModelConfig, mix_point: str) -> str:
        """What the mix point carries: the pooled vector (B, D) or token sequences (B, T, D)."""
        return "vectors" if mix_point in MODELS.get(model.name).vector_points else "sequences"

    repetition_keys = ("data.fold", "data.split_seed", "hub")

    def validate(self, recipe: Recipe) -> None:
        """Names, mix point and OOD sets, before any data is loaded."""
        data, model = recipe.data, recipe.model
        if data.name not in DATASETS and data.name not in ("custom", "hub"):
            raise DataError(f"unknown dataset data.name={data.name!r}; known: {', '.join(DATASETS)}, custom, hub")
        if data.name == "hub" and not (data.hub_id or data.path):
            raise RecipeError("data.name=hub needs data.hub_id (e.g. SetFit/sst2) or data.path (a dataset folder)")
        entry = MODELS.get(model.name)
        if recipe.mixes and not entry.supports(recipe.mixup.mix_point):
            points = ", ".join(entry.mix_points)
            raise RecipeError(
                f"mixup.mix_point={recipe.mixup.mix_point!r} is not a mix point of {model.name}: {points}"
            )
        for name in recipe.eval.ood:
            if name not in DATASETS and name not in OOD_NOISE:
                known = ", ".join([*DATASETS, *OOD_NOISE])
                raise RecipeError(f"eval.ood entry {name!r} is unknown for text; use one of {known}")
        if recipe.eval.perturbation:
            raise RecipeError("eval.perturbation needs continuous inputs; text inputs are tokens: leave it empty")
        for name in recipe.eval.shift:
            if name not in DATASETS and not Path(name).expanduser().is_file():
                raise RecipeError(f"eval.shift entry {name!r} is neither a dataset ({', '.join(DATASETS)}) nor a file")
            ours = DATASETS.get(data.name).label_names if data.name in DATASETS else None
            theirs = DATASETS.get(name).label_names if name in DATASETS else None
            if (
                ours
                and theirs
                and not set(next(iter(theirs.values()))) <= set(ours[data.label_set or next(iter(ours))])
            ):
                raise RecipeError(f"eval.shift {name!r} has another label space than data.name={data.name!r}")

    def setup(self, recipe: Recipe) -> TaskData:
        """Splits → featurizer and model → encoded splits → length-bucketed loaders (a push at the
        end of training is checked first: a license the card cannot state stops it before training)."""
        check_push_license(recipe.extra["hub"], recipe.model)
        splits = load_splits(recipe.data)
        model, featurizer, facts = build_model(recipe, splits)
        facts["source"] = describe_source(recipe.data)
        encoded = {name: encode_split(split, featurizer) for name, split in splits.items()}
        facts["train_label_counts"] = np.bincount(encoded["train"]["label"], minlength=facts["num_classes"]).tolist()
        place = _placement(recipe.data, recipe.train.compile, encoded)
        loaders = {
            "train": make_loader(
                encoded["train"], featurizer, recipe.train.batch_size, True, recipe.train.seed, **place
            )
        }
        return self._data(recipe, model, featurizer, facts, label_names(splits), encoded, loaders, place)

    def load_for_evaluation(self, recipe: Recipe, model_dir: Path) -> TaskData:
        entry = MODELS.get(recipe.model.name)
        if entry.cls is None:
            raise RecipeError(f"model {recipe.model.name!r} was registered without a class to reload it with")
        featurizer = load_featurizer(model_dir)
        model = load_pretrained(entry.cls, model_dir)
        splits = load_splits(recipe.data)
        encoded = {name: encode_split(splits[name], featurizer) for name in ("validation", "test")}
        place = _placement(recipe.data, recipe.train.compile, encoded)
        return self._data(recipe, model, featurizer, {}, label_names(splits), encoded, {}, place)

    @staticmethod
    def _data(recipe, model, featurizer, facts, names, encoded, loaders, place) -> TaskData:
        eval_batch = recipe.train.eval_batch_size
        for name in ("validation", "test"):
            loaders[name] = make_loader(encoded[name], featurizer, eval_batch, False, 0, **place)
        shift, seed = recipe.eval.shift, recipe.train.seed

        def shift_sets() -> dict[str, EvalSet]:
            out = {}
            for name, split in shift_splits(shift, recipe.data, names).items():
                loader = make_loader(encode_split(split, featurizer), featurizer, eval_batch, False, 0, **place)
                out[name] = EvalSet(loader, len(split), model_inputs, np.asarray(split["label"]))
            return out

        def ood(unwrapped) -> dict[str, EvalSet]:  # unwrapped: the model whose embedding table noise draws on
            lengths = loaders["test"].dataset.lengths  # (N,) token counts, dataset order
            return ood_sets(recipe.eval.ood, featurizer, unwrapped, lengths, seed, eval_batch)

        entry = MODELS.get(recipe.model.name)
        return TaskData(
            model=model,
            facts=facts,
            label_names=names,
            loaders=loaders,
            labels={name: np.asarray(encoded[name]["label"]) for name in ("validation", "test")},
            inputs_fn=model_inputs,
            save_model=lambda model, folder: save_text_model(model, featurizer, folder),
            ood_sets=ood if recipe.eval.ood else None,
            shift_sets=shift_sets if shift else None,
            after_optimizer_step=(lambda: entry.after_step(model)) if entry.after_step else None,
            after_training=functools.partial(finish_run, recipe.extra["hub"]),
        )


def check_push_license(hub: HubConfig, model) -> None:
    """``hub.push`` needs a license the card can state: the one given or the base model's."""
    if hub.push:
        from textmix.text.card_license import RECIPE, card_license, require_license
        from textmix.text.hub import base_model

        base = base_model(dataclasses.asdict(model))
        found = card_license(hub.license, hub.license_name, hub.license_link, base, RECIPE)
        require_license(found, "hub.push", RECIPE)


def finish_run(hub: HubConfig, run_dir: Path) -> None:
    """The model folder's README.md becomes the run's model card (what was measured, on which
    data); with ``hub.push`` the best model is uploaded with it."""
    from textmix.text.hub import model_card, push_run

    atomic_write_text(RunDir(run_dir).model / "README.md", str(model_card(run_dir, str(run_dir))))
    if hub.push:
        url = push_run(run_dir, hub.repo_id, private=hub.private, license=hub.license,
                       license_name=hub.license_name, license_link=hub.license_link)  # fmt: skip
        logger.info("pushed the best model to %s", url)
