"""The ``textmix`` command: ``textmix train RECIPE``, ``textmix evaluate RUN_DIR``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_INTERRUPTED = 130


def add_train_arguments(parser: argparse.ArgumentParser, recipe_flag: bool) -> None:
    if recipe_flag:
        parser.add_argument("--config", required=True, help="YAML recipe")
    else:
        parser.add_argument("config", help="YAML recipe")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key, e.g. --set train.epochs=3 (repeatable)",
    )
    parser.add_argument("--output-dir", help="run directory (default: train.output_dir or runs/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output directory")
    parser.add_argument("--overwrite", action="store_true", help="delete the output directory first")


def run_train(args) -> int:
    from accelerate import PartialState

    from textmix.engine import TrainingInterrupted, train
    from textmix.recipe import load_recipe

    recipe = load_recipe(args.config, args.overrides)
    run_dir = Path(args.output_dir or recipe.train.output_dir or Path("runs") / Path(args.config).stem)
    try:
        metrics = train(recipe, run_dir, resume=args.resume, overwrite=args.overwrite)
    except TrainingInterrupted as stop:
        logging.getLogger("textmix").warning(str(stop))
        return EXIT_INTERRUPTED
    test = metrics["test"]
    if PartialState().is_main_process:
        print(
            f"{run_dir}: best epoch {metrics['best_epoch']}, test accuracy {test['accuracy']:.4f}, "
            f"ECE {test['ece']:.4f}, OE {test['oe']:.4f}, NLL {test['nll']:.4f}"
        )
    return 0


def run_evaluate(args) -> int:
    from accelerate import PartialState

    from textmix.evaluation_run import evaluate_run

    metrics = evaluate_run(Path(args.run_dir), args.overrides)
    test = metrics["test"]
    if PartialState().is_main_process:
        print(f"{args.run_dir}: test accuracy {test['accuracy']:.4f}, ECE {test['ece']:.4f}, OE {test['oe']:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="textmix", description="Embedding mixup and calibration for text classifiers")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a recipe into a run directory")
    add_train_arguments(train, recipe_flag=False)
    evaluate = commands.add_parser("evaluate", help="re-evaluate a finished run (writes evaluation.json)")
    evaluate.add_argument("run_dir")
    evaluate.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override eval.* keys, e.g. --set eval.mc_dropout_samples=10",
    )
    args = parser.parse_args(argv)
    return _run(run_train if args.command == "train" else run_evaluate, args)


def _run(command, args) -> int:
    """Run a command; known user errors become one clear line instead of a traceback."""
    from textmix.data.datasets import DataError
    from textmix.data.vectors import VectorsError
    from textmix.engine import NonFiniteLossError, RunDirError
    from textmix.recipe import RecipeError

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logging.getLogger("accelerate.checkpointing").setLevel(logging.WARNING)
    try:
        return command(args)
    except (
        RecipeError,
        DataError,
        VectorsError,
        RunDirError,
        NonFiniteLossError,
        FileNotFoundError,
        ValueError,
    ) as error:
        print(f"textmix: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
