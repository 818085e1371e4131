"""``accelerate launch -m textmix.train --config RECIPE [--set key=value ...]``."""

from __future__ import annotations

import argparse
import sys

from textmix.cli import add_train_arguments, run_command, run_train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m textmix.train", description="Train a textmix recipe")
    add_train_arguments(parser, recipe_flag=True)
    return run_command(run_train, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
