"""Bootstrap intervals: time of 1,000 resamples of 25,000 test examples (the size of IMDB's test split).

    python -m bench.bootstrap_speed [--n 25000] [--resamples 1000] [--repeats 5]

Times ``textmix.core.bootstrap.bootstrap_metrics`` (accuracy, ECE, OE, AURC on every resample), medians of
repeats, on random binary predictions; writes bench/results/bootstrap_speed.json.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import spread, timed, write_result
from textmix.core.bootstrap import bootstrap_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1.0, 1.0], args.n)
    labels = rng.integers(0, 2, args.n)
    seconds = [
        timed(lambda: bootstrap_metrics(probs, labels, resamples=args.resamples, seed=1))[0]
        for _ in range(args.repeats)
    ]
    print(f"{args.resamples} resamples of {args.n} examples: median {spread(seconds)['median']:.3f} s")
    write_result("bootstrap_speed", {"n": args.n, "resamples": args.resamples, "seconds": spread(seconds)})


if __name__ == "__main__":
    main()
