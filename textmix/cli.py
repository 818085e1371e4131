"""The ``textmix`` command: train, evaluate, sweep, report, push, predict.

Errors a user can fix (:class:`textmix.core.errors.TextmixError`) print as one line with exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from textmix import __version__, names
from textmix.cli_predict import (
    add_export_parser,
    add_predict_parser,
    add_serve_parser,
    run_export,
    run_predict,
    run_serve,
)
from textmix.core.errors import EXIT_INTERRUPTED, ArgumentError, TextmixError, TrainingInterrupted

MAX_BINS = 1000  # more reliability bins than this are noise (and cost memory per bin)


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_train_arguments(parser: argparse.ArgumentParser, recipe_flag: bool) -> None:
    if recipe_flag:
        parser.add_argument("--config", required=True, help="YAML recipe")
    else:
        parser.add_argument("config", help="YAML recipe")
    add_set_argument(parser, "override a recipe key, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--output-dir", help="run directory (default: train.output_dir or runs/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output directory")
    parser.add_argument("--overwrite", action="store_true", help="delete the output directory first")


def run_train(args) -> int:
    from accelerate import PartialState

    from textmix.engine import load_recipe, train
    from textmix.engine.launchers import die_with_parent

    die_with_parent()
    recipe = load_recipe(args.config, args.overrides)
    run_dir = Path(args.output_dir or recipe.train.output_dir or Path("runs") / Path(args.config).stem)
    metrics = train(recipe, run_dir, resume=args.resume, overwrite=args.overwrite)
    test = metrics["test"]
    if PartialState().is_main_process:
        print(
            f"{run_dir}: best epoch {metrics['best_epoch']}, test accuracy {test['accuracy']:.4f}, "
            f"ECE {test['ece']:.4f}, OE {test['oe']:.4f}, NLL {test['nll']:.4f}"
        )
    return 0


def run_evaluate(args) -> int:
    from accelerate import PartialState

    from textmix.engine.reevaluation import evaluate_run, summary
    from textmix.engine.run_directory import RunDir

    metrics = evaluate_run(Path(args.run_dir), args.overrides)
    test = metrics["test"]
    if PartialState().is_main_process:
        print(f"{args.run_dir}: test accuracy {test['accuracy']:.4f}, ECE {test['ece']:.4f}, OE {test['oe']:.4f}")
        print("\n".join(summary(metrics)))
        print(f"(every number: {RunDir(args.run_dir).evaluation})")
    return 0


def run_sweep(args) -> int:
    from textmix.engine.launchers import ClusterOptions
    from textmix.engine.sweep import parse_grid, parse_seeds, sweep, with_split_seeds

    out = Path(args.out or Path("runs") / f"sweep_{Path(args.config).stem}")
    for name in ("cpus_per_run", "gpus_per_run", "max_retries", "time"):
        if getattr(args, name) < (1 if name in ("cpus_per_run", "time") else 0):
            raise ArgumentError(f"--{name.replace('_', '-')} {getattr(args, name)} is out of range")
    cluster = ClusterOptions(args.address, args.cpus_per_run, args.gpus_per_run, args.max_retries, args.partition,
                             args.time, _slurm_options(args.slurm_config), args.slurm_cluster)  # fmt: skip
    try:
        grid, seeds = with_split_seeds(parse_grid(args.grid), args.split_seeds), parse_seeds(args.seeds)
        sweep(args.config, grid, seeds, args.overrides, out, args.dry_run, args.jobs, args.launcher, cluster)
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(f"{stop}; run the same sweep command again to continue") from None
    return 0


def _slurm_options(path: str | None) -> dict:
    """--slurm-config: a YAML mapping of submitit parameters (slurm_* keys, e.g. slurm_account)."""
    if path is None:
        return {}
    from textmix.engine.recipe_yaml import parse_yaml

    try:
        values = parse_yaml(Path(path).read_text(), path)
    except OSError as error:
        raise ArgumentError(f"--slurm-config {path} is unreadable ({error.strerror})") from None
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise ArgumentError(f"--slurm-config {path} must be a YAML mapping of submitit parameters")
    return values


def comma_list(text: str, option: str, convert=str) -> list:
    """A comma-separated option value as a list; an empty item or one ``convert`` refuses is one
    line naming the option and the item (``--conformal 0.1,`` is a typo, not a list of one)."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ArgumentError(f"{option} {text!r} has an empty item: give comma-separated values such as a,b")
        try:
            out.append(convert(item))
        except ValueError:
            raise ArgumentError(f"{option} {text!r}: {item!r} is not a {convert.__name__}") from None
    return out


def run_report(args) -> int:
    from textmix.engine.report import report

    kinds = None if args.figures is None else comma_list(args.figures, "--figures")
    aggregate = report([Path(r) for r in args.run_dirs], Path(args.out), figure_kinds=kinds, html=args.html)
    html = " and report.html" if args.html else ""
    print(f"wrote {args.out}/README.md, results.json, {len(aggregate['figures'])} figures{html}")
    return 0


def run_calibrate(args) -> int:
    from textmix.core.prediction_files import read_predictions
    from textmix.core.prediction_report import calibrate

    kind, columns = ("logits", args.logits) if args.logits else ("probs", args.probs)
    scores, labels = read_predictions(args.file, columns, args.labels)
    val = read_predictions(args.val, columns, args.labels) if args.val else None
    ood = read_predictions(args.ood, columns, None)[0] if args.ood else None
    if not 1 <= args.bins <= MAX_BINS:
        raise ArgumentError(f"--bins {args.bins} is out of range: use 1 to {MAX_BINS} (15 is the usual choice)")
    if args.calibrators is not None and val is None:
        raise ArgumentError(f"--calibrators {args.calibrators} are fitted on validation predictions: give --val FILE")
    chosen = args.calibrators or "temperature"
    names = "all" if chosen == "all" else comma_list(chosen, "--calibrators")
    alphas = comma_list(args.conformal, "--conformal", float) if args.conformal else []
    methods = comma_list(args.conformal_methods, "--conformal-methods")
    if args.bootstrap < 0:
        raise ArgumentError(f"--bootstrap {args.bootstrap} is out of range: resamples >= 0 (0: no intervals)")
    if args.sets and not alphas:
        raise ArgumentError("--sets writes conformal sets: give --conformal ALPHAS too")
    if args.sets and Path(args.sets).suffix not in (".csv", ".jsonl"):
        raise ArgumentError(f"--sets {args.sets}: write .csv or .jsonl")
    if args.floor_draws < 0:
        raise ArgumentError(f"--floor-draws {args.floor_draws} is out of range: draws >= 0 (0: no noise floor)")
    report = calibrate(scores, labels, kind=kind, val=val, ood=ood, n_bins=args.bins, calibrators=names,
                       conformal=alphas, conformal_methods=methods, bootstrap_resamples=args.bootstrap,
                       floor_draws=args.floor_draws, seed=args.seed)  # fmt: skip
    out = Path(args.out or f"{Path(args.file).stem}_calibration")
    written = report.save(out)
    if args.sets:
        written.append(write_sets(args.sets, report, columns))
    print(report.table())
    if report.conformal:
        print(report.conformal_table())
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def write_sets(path: str, report, columns: str) -> Path:
    """Each test example's conformal sets, by class name where the score columns were named one by one."""
    from textmix.core.prediction_files import write_rows

    sets = report.label_sets()
    k = report.probs.shape[1]
    names = [c.strip() for c in columns.split(",")]
    names = names if len(names) == k else [str(i) for i in range(k)]
    rows = [{"row": i, "label": names[y]} for i, y in enumerate(report.labels)]
    for (method, alpha, source), chosen in sets.items():
        for row, keep in zip(rows, chosen):
            row[f"{method} alpha={alpha:g} {source}"] = [name for name, kept in zip(names, keep) if kept]
    return write_rows(path, rows)


def run_push(args) -> int:
    from textmix.text.hub import push_run

    where = push_run(Path(args.run_dir), args.repo_id, private=args.private, dry_run=args.dry_run,
                     license=args.license, license_name=args.license_name, license_link=args.license_link)  # fmt: skip
    print(f"wrote the upload folder {where}" if args.dry_run else f"pushed to {where}")
    return 0


def _names(table: tuple[str, ...]) -> str:
    """Built-in names for an option's help, from a table that imports nothing (no torch for --help)."""
    return ", ".join(table)


def add_sweep_parser(commands) -> None:
    sweep = commands.add_parser("sweep", help="train a grid of settings x seeds (finished runs are skipped)")
    sweep.add_argument("config", help="YAML recipe")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a recipe key and its values, e.g. --grid mixup.alpha=0.1,0.2,0.4 (repeatable)",
    )
    sweep.add_argument("--seeds", default="1", help="comma-separated training seeds (default 1)")
    sweep.add_argument("--split-seeds", metavar="S1,S2", help="comma-separated data split seeds (data.split_seed): "
                       "every setting × seed on each carved split; the report pairs by (seed, split seed) and "
                       "separates the two sources of variance")  # fmt: skip
    add_set_argument(sweep, "override a recipe key for every run")
    sweep.add_argument("--out", help="folder of the run directories (default runs/sweep_<recipe name>)")
    sweep.add_argument("--dry-run", action="store_true", help="check every recipe and list the runs; train nothing")
    sweep.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process (default 1)")
    sweep.add_argument("--launcher", default="local", choices=["local", "ray", "slurm"],
                       help="where runs execute: local processes, a Ray cluster (pip install \"textmix[ray]\") or "
                       "Slurm jobs (pip install \"textmix[slurm]\"); --out must be a path every node sees")  # fmt: skip
    sweep.add_argument("--address", help="ray: a running cluster (e.g. auto or ray://host:10001); default: a local one")
    sweep.add_argument("--cpus-per-run", type=int, default=1, help="ray / slurm: CPUs (torch threads) per run")
    sweep.add_argument("--gpus-per-run", type=int, default=0, help="ray / slurm: GPUs per run")
    sweep.add_argument("--max-retries", type=int, default=3, help="ray: restarts of a run whose worker died")
    sweep.add_argument("--partition", help="slurm: partition")
    sweep.add_argument("--time", type=int, default=60, help="slurm: time limit per job in minutes (default 60)")
    sweep.add_argument("--slurm-config", metavar="YAML", help="slurm: further submitit parameters (slurm_* keys)")
    sweep.add_argument("--slurm-cluster", default="slurm", choices=["slurm", "local"],
                       help="slurm: local runs the jobs as local processes through submitit (debugging)")  # fmt: skip


def add_calibrate_parser(commands) -> None:
    calibrate = commands.add_parser("calibrate", help="calibration metrics of any model's predictions file")
    calibrate.add_argument("file", help="predictions: CSV, JSON Lines, parquet or .npz")
    calibrate.add_argument(
        "--labels", required=True, metavar="COL", help="label column (integers 0..K-1 or class names)"
    )
    scores = calibrate.add_mutually_exclusive_group(required=True)
    scores.add_argument(
        "--logits", metavar="COLS", help="logit columns: a,b,c, a glob such as logit_*, or one (N, K) column"
    )
    scores.add_argument("--probs", metavar="COLS", help="probability columns (rows must sum to 1), as --logits")
    calibrate.add_argument(
        "--val", metavar="FILE", help="validation predictions (same columns): fit the calibrators there"
    )
    calibrate.add_argument("--calibrators", metavar="NAMES",
                           help=f"comma-separated calibrators fitted on --val, or all: {_names(names.CALIBRATORS)} "
                           "(default temperature)")  # fmt: skip
    calibrate.add_argument("--conformal", metavar="ALPHAS", help="conformal prediction sets calibrated on --val at "
                           "these miscoverage levels, e.g. 0.1,0.05")  # fmt: skip
    calibrate.add_argument("--conformal-methods", default="lac", metavar="NAMES",
                           help=f"conformal scores: {_names(names.CONFORMAL_SCORES)} (default lac; aps, raps and saps "
                           "only with three or more classes)")  # fmt: skip
    calibrate.add_argument("--sets", metavar="FILE", help="with --conformal: write each test example's label sets "
                           "(one column per method, alpha and probabilities) to FILE, .csv or .jsonl")  # fmt: skip
    calibrate.add_argument("--ood", metavar="FILE", help="out-of-distribution predictions (same score columns): AUROC")
    calibrate.add_argument("--bins", type=int, default=15, help="reliability bins (default 15)")
    calibrate.add_argument("--bootstrap", type=int, default=1000, metavar="R",
                           help="resamples of the 95%% bootstrap intervals (default 1000; 0: none; skipped when "
                           "examples × R exceeds 2e8)")  # fmt: skip
    calibrate.add_argument("--floor-draws", type=int, default=1000, metavar="D",
                           help="label draws of the noise floor beside ECE: what a perfectly calibrated model with "
                           "these confidences would score (default 1000; 0: none)")  # fmt: skip
    calibrate.add_argument("--seed", type=int, default=0,
                           help="seed of the bootstrap, the noise floor, the cross-fit folds and randomized "
                           "conformal scores (default 0; a run's train.seed reproduces its metrics.json)")  # fmt: skip
    calibrate.add_argument("--out", help="output folder (default: <file stem>_calibration)")


def main(argv: list[str] | None = None) -> int:
    if not sys.stderr.isatty():  # a log file, not a terminal: no progress-bar fragments from datasets,
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # transformers and huggingface_hub
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="textmix", description="Embedding mixup and calibration for text classifiers")
    parser.add_argument("--version", action="version", version=f"textmix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a recipe into a run directory")
    add_train_arguments(train, recipe_flag=False)
    evaluate = commands.add_parser("evaluate", help="re-evaluate a finished run (writes evaluation.json)")
    evaluate.add_argument("run_dir")
    add_set_argument(evaluate, "override eval.* keys, e.g. --set eval.mc_dropout_samples=10")
    add_sweep_parser(commands)
    report = commands.add_parser("report", help="tables and figures over finished runs")
    report.add_argument("run_dirs", nargs="+", help="finished run directories or sweep folders (--out of sweep)")
    report.add_argument("--out", required=True, help="output folder")
    report.add_argument(
        "--figures",
        help=f"comma-separated figure kinds to draw (default: all): {_names(names.FIGURE_KINDS)}",
    )
    report.add_argument("--html", action="store_true", help="also write report.html: one self-contained file "
                        "(figures embedded, a contents list, tables sorted by a click on a header)")  # fmt: skip
    add_calibrate_parser(commands)
    push = commands.add_parser("push", help="upload a run's best model with a calibration model card")
    push.add_argument("run_dir")
    push.add_argument("--repo-id", required=True, help="Hub repository, user/name")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--dry-run", metavar="OUT_DIR", help="only write the folder that would be uploaded")
    push.add_argument("--license", metavar="ID", help="the weights' license on the card: a Hub license id (apache-2.0, "
                      "mit, cc-by-4.0...) or other (default: the base model's, e.g. apache-2.0 for MiniLM; a model "
                      "without a base model needs it)")  # fmt: skip
    push.add_argument("--license-name", metavar="NAME", help="with --license other: the license's name")
    push.add_argument("--license-link", metavar="URL", help="with --license other: where its text is")
    predict = add_predict_parser(commands)
    add_export_parser(commands)
    add_serve_parser(commands)
    if argv[:1] == ["predict"]:  # options before, between or after the texts
        args = predict.parse_intermixed_args(argv[1:], argparse.Namespace(command="predict"))
    else:
        args = parser.parse_args(argv)
    commands_by_name = {
        "train": run_train,
        "evaluate": run_evaluate,
        "sweep": run_sweep,
        "report": run_report,
        "calibrate": run_calibrate,
        "push": run_push,
        "predict": run_predict,
        "export": run_export,
        "serve": run_serve,
    }
    return run_command(commands_by_name[args.command], args)


def run_command(command, args) -> int:
    """Run a command; user errors become one clear line instead of a traceback."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # textmix's own INFO lines only: gensim logs every vector file it reads, accelerate every checkpoint,
    # the ONNX exporter every optimization pass
    for noisy in ("accelerate.checkpointing", "gensim", "smart_open", "onnx_ir", "onnxscript"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return command(args)
    except BrokenPipeError:
        # the reader went away (``textmix predict ... | head``): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except TrainingInterrupted as stop:
        logging.getLogger("textmix").warning(str(stop))
        return EXIT_INTERRUPTED
    except TextmixError as error:
        print(f"textmix: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
