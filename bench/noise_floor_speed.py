"""Noise floor: time of 1,000 label draws (200 for smooth ECE) at 1,066 / 25,000 / 100,000 examples,
against the same draws scored one at a time by ``calibration_report`` (the straightforward way).

    python -m bench.noise_floor_speed [--sizes 1066,25000,100000] [--repeats 5] [--reference-draws 20]

Times ``textmix.core.noise_floor.noise_floor`` (ECE, adaptive, debiased: 1,000 draws; smooth ECE: 200)
in a process where torch is imported (as in every textmix run), medians of repeats; the reference
scores ``--reference-draws`` draws one by one and is scaled to the same draw counts. Writes
bench/results/noise_floor_speed.json.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch  # noqa: F401  (imported as in every textmix process: it slows numpy's reductions here)

from bench.common import spread, timed, write_result
from textmix.core.metrics import calibration_report
from textmix.core.noise_floor import noise_floor


def reference_seconds(conf: np.ndarray, draws: int) -> float:
    """Seconds per draw of scoring one label draw with calibration_report (every metric, as a user would)."""
    g = np.random.default_rng(0)
    probs = np.stack([conf, 1 - conf], axis=1)

    def run():
        for _ in range(draws):
            calibration_report(probs, (g.uniform(size=len(conf)) >= conf).astype(int))

    return timed(run)[0] / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1066,25000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-draws", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        conf = np.random.default_rng(1).uniform(0.5, 1.0, n)
        binned = [timed(lambda c=conf: noise_floor(c, smooth_draws=0, seed=2))[0] for _ in range(args.repeats)]
        full = [timed(lambda c=conf: noise_floor(c, seed=2))[0] for _ in range(args.repeats)]
        per_draw = reference_seconds(conf, args.reference_draws)
        ours, reference = spread(full)["median"], 1000 * per_draw
        print(f"n={n}: binned floors {spread(binned)['median']:.3f} s, with smooth ECE {ours:.3f} s; one draw at a "
              f"time ~{reference:.1f} s for 1,000 draws: {ours / reference:.3f}x")  # fmt: skip
        rows.append({"n": n, "binned": spread(binned), "all": spread(full), "reference_per_draw": per_draw})
    write_result("noise_floor_speed", {"rows": rows})


if __name__ == "__main__":
    main()
