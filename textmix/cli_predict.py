"""``textmix predict``: classify texts with calibrated probabilities, abstain with a guarantee (or
at a threshold), and give conformal label sets; results on standard output or in a file.
``textmix export``: the model as files that run without textmix (ONNX, tokenizer.json, calibrator).
``textmix serve``: the model over HTTP (textmix.text.serve)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textmix.core.errors import ArgumentError, DataError
from textmix.core.prediction_files import write_rows
from textmix.names import CONFORMAL_SCORES


def add_predict_parser(commands) -> argparse.ArgumentParser:
    predict = commands.add_parser("predict", help="classify texts with calibrated probabilities")
    predict.add_argument("model", help="run directory, model folder or Hub repository id")
    predict.add_argument("texts", nargs="*", help="texts to classify (- alone: read them from standard input)")
    predict.add_argument("--file", help="a file with one text per line")
    predict.add_argument("--encoding", default="utf-8",
                         help="text encoding of --file and standard input (default utf-8; MR is cp1252)")  # fmt: skip
    predict.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    predict.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    target = predict.add_mutually_exclusive_group()
    target.add_argument("--abstain-below", type=float, metavar="P",
                        help="answer 'abstain' when the calibrated winning probability is below P")  # fmt: skip
    target.add_argument("--target-risk", type=float, metavar="R", help="abstain so that, with probability >= 1 - "
                        "DELTA, the error rate among answered texts is at most R (Learn then Test on the calibration "
                        "split the model stores; e.g. 0.1)")  # fmt: skip
    target.add_argument("--validation-risk", type=float, metavar="R", help="NO GUARANTEE: abstain below the lowest "
                        "threshold whose validation error rate among answered texts is at most R")  # fmt: skip
    target.add_argument("--target-coverage", type=float, metavar="C", help="answer the most confident share C "
                        "(threshold from the validation split)")  # fmt: skip
    predict.add_argument("--delta", type=float, default=0.1, metavar="D",
                         help="with --target-risk: the allowed chance the risk exceeds R (default 0.1)")  # fmt: skip
    predict.add_argument("--jsonl", action="store_true", help="one JSON object per text")
    predict.add_argument("--conformal", type=float, metavar="ALPHA", help="also give the conformal label set that "
                         "holds the true label with probability >= 1 - ALPHA (e.g. 0.1)")  # fmt: skip
    scores = ", ".join(CONFORMAL_SCORES)
    predict.add_argument("--conformal-method", default="lac", help=f"{scores} (default lac; on two classes only lac)")
    predict.add_argument("--calibrator", metavar="NAME", help="another calibrator the model stores (eval.calibrators), "
                         "or none for uncalibrated probabilities (default: the one chosen in training)")  # fmt: skip
    predict.add_argument("--out", metavar="FILE", help="also write every result (label, probability, set) to FILE: "
                         ".csv or .jsonl")  # fmt: skip
    return predict


def decoded_lines(data: bytes, encoding: str, where: str) -> list[str]:
    """The non-blank lines of ``data``; bytes that are not ``encoding`` text are one line naming
    ``where`` and the way out, never replacement characters classified as if they were text."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise DataError(
            f"{where} is not {encoding} text ({error}); give its --encoding (e.g. cp1252, latin-1)"
        ) from None
    except LookupError:
        raise DataError(f"--encoding {encoding!r} is not a text encoding Python knows") from None
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def read_texts(args) -> list[str]:
    texts = list(args.texts)
    if texts == ["-"]:  # texts from standard input, one a line (like --file)
        texts = decoded_lines(sys.stdin.buffer.read(), args.encoding, "standard input")
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise DataError(f"--file {path} does not exist")
        texts += decoded_lines(path.read_bytes(), args.encoding, f"--file {path}")
    if not texts:
        raise DataError("give texts to classify as arguments or with --file (one text per line)")
    return texts


def abstention_threshold(model, args) -> float | None:
    """The threshold of --abstain-below, --target-risk (guaranteed), --validation-risk or
    --target-coverage, said on standard error with what it rests on."""
    if args.target_risk is not None:
        control = model.risk_threshold(args.target_risk, args.delta)
        n, errors = control.calibration
        total = control.counts.n.max()
        if control.threshold == float("inf"):
            print(f"no threshold can be certified at risk {args.target_risk:g} with delta {args.delta:g} on the "
                  f"{total} calibration examples: abstaining on every text", file=sys.stderr)  # fmt: skip
        else:
            print(f"abstaining below p={control.threshold:.4f}: with probability >= {1 - args.delta:.0%} the error "
                  f"rate among answered texts is <= {args.target_risk:.0%} (Learn then Test; calibration: {n} of "
                  f"{total} answered, {errors} errors)", file=sys.stderr)  # fmt: skip
        return control.threshold
    if args.validation_risk is not None or args.target_coverage is not None:
        threshold, coverage, risk = model.abstain_threshold(args.target_coverage, args.validation_risk)
        if threshold == float("inf"):
            print(f"no threshold reaches risk {args.validation_risk} on validation: abstaining on every text",
                  file=sys.stderr)  # fmt: skip
        else:
            note = " (no guarantee on new texts: --target-risk gives one)" if args.validation_risk is not None else ""
            print(f"abstaining below p={threshold:.4f}: on validation {coverage:.0%} answered, risk {risk:.2%}{note}",
                  file=sys.stderr)  # fmt: skip
        return threshold
    return args.abstain_below


def run_predict(args: argparse.Namespace) -> int:
    import json

    from textmix.text.predict import load_model

    texts = read_texts(args)
    if args.batch_size < 1:
        raise ArgumentError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0 < args.delta < 1:
        raise ArgumentError(f"--delta {args.delta} must be in (0, 1), e.g. 0.1")
    if args.out and Path(args.out).suffix not in (".csv", ".jsonl"):
        raise ArgumentError(f"--out {args.out}: write .csv or .jsonl")
    model = load_model(args.model, device=args.device, calibrator=args.calibrator)
    model.batch_size = args.batch_size
    threshold = abstention_threshold(model, args)
    results = model.predict(texts, abstain_below=threshold)
    if args.conformal is not None:
        for result, labels in zip(results, model.predict_set(texts, args.conformal, args.conformal_method)):
            result["set"] = labels
    for result in results:
        if args.jsonl:
            print(json.dumps(result, ensure_ascii=False))
        elif args.conformal is not None:
            print(f"{{{', '.join(result['set'])}}}\t{result['label']}\t{result['probability']:.4f}\t{result['text']}")
        else:
            print(f"{result['label']}\t{result['probability']:.4f}\t{result['text']}")
    if args.out:
        write_rows(args.out, [_row(r, model.label_names) for r in results])
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _row(result: dict, names: list[str]) -> dict:
    """One flat row of a result: the text, label, best label, probability, set and each class's probability."""
    row = {key: result[key] for key in ("text", "label", "best_label", "probability")}
    if "set" in result:
        row["set"] = result["set"]
    return row | {f"p_{name}": result["probabilities"][name] for name in names}


def add_export_parser(commands) -> None:
    export = commands.add_parser("export", help="write a model that runs without textmix (ONNX + tokenizer.json)")
    export.add_argument("model", help="run directory, model folder or Hub repository id")
    export.add_argument("out", help="folder to write (new, empty or an earlier export: it is replaced whole)")
    export.add_argument("--format", default="onnx", help="onnx (needs the onnx extra: pip install 'textmix[onnx]')")
    export.add_argument("--calibrator", metavar="NAME", help="another calibrator the model stores, or none (default: "
                        "the one chosen in training)")  # fmt: skip


def run_export(args: argparse.Namespace) -> int:
    from textmix.text.export import export_model

    out = export_model(args.model, args.out, format=args.format, calibrator=args.calibrator)
    print(f'wrote {out}: run it with  python {out / "run_onnx.py"} "a text"  (onnxruntime, tokenizers, numpy)')
    return 0


SERVE_LIMITS = {  # option → (default, help): the bounds of textmix.text.serve.Limits
    "max_texts": (256, "texts a request may hold (422 beyond)"),
    "max_chars": (10_000, "characters a text may hold (422 beyond)"),
    "max_body_bytes": (4 * 2**20, "bytes a request body may hold (413 beyond)"),
    "max_batch": (64, "texts one forward pass takes from concurrent requests"),
    "max_wait_ms": (5.0, "how long a request waits for others to batch with"),
}


def add_serve_parser(commands) -> None:
    serve = commands.add_parser("serve", help="serve a model over HTTP (calibrated probabilities, label sets, "
                                "abstention; needs the serve extra)")  # fmt: skip
    serve.add_argument("model", help="run directory, model folder or Hub repository id")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--calibrator", metavar="NAME", help="another calibrator the model stores, or none")
    serve.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    for name, (default, text) in SERVE_LIMITS.items():
        serve.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                           help=f"{text} (default {default})")  # fmt: skip


def run_serve(args: argparse.Namespace) -> int:
    try:
        from textmix.text.serve import Limits, serve
    except ImportError:
        raise ArgumentError("textmix serve needs the serve extra: pip install 'textmix[serve]'") from None
    for name in SERVE_LIMITS:
        if getattr(args, name) <= 0:
            raise ArgumentError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if not 0 <= args.port < 65536:
        raise ArgumentError(f"--port must be in [0, 65535], got {args.port}")
    limits = Limits(**{name: getattr(args, name) for name in SERVE_LIMITS})
    serve(args.model, args.host, args.port, limits, args.calibrator, args.device)
    return 0
