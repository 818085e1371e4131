"""``textmix serve MODEL``: a calibrated model over HTTP (the ``serve`` extra: FastAPI + uvicorn).

    textmix serve runs/mr_kim_cnn_mixup --port 8000
    curl -s localhost:8000/predict -H 'content-type: application/json' \\
         -d '{"texts": ["a gripping, funny film"], "conformal": {"alpha": 0.1}, "target_risk": 0.15}'

FastAPI and uvicorn because they are what the Hugging Face stack deploys with (Inference Endpoints'
custom handlers, TGI's router): typed requests (pydantic) give the OpenAPI schema at /openapi.json
and a 422 naming the field for bad input, and uvicorn finishes in-flight requests on SIGTERM.

- ``POST /predict``: texts → label, calibrated probability and probabilities per text; optionally a
  conformal label set (``conformal: {alpha, method}``) and abstention at a threshold
  (``abstain_below``) or with a guarantee (``target_risk``, ``delta``: Learn then Test).
- ``GET /health``: ok, and how many forward passes served how many texts.
- ``GET /model``: label names, calibrators, conformal methods, the run's test metrics, the card.

Concurrent requests are batched: texts that arrive within ``max_wait_ms`` of each other (up to
``max_batch``) go through the model in one forward pass. Requests are bounded: at most
``max_texts`` texts of ``max_chars`` characters, a body of ``max_body_bytes`` (413 beyond).
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time, and
# the request model is built per server (its bounds in the schema), so a string would not resolve
import asyncio
import contextlib
import json
import signal
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from textmix.core.errors import ArgumentError, TextmixError
from textmix.engine.run_directory import RunDir
from textmix.text.model_folder import find_model_folder
from textmix.text.predict import CalibratedClassifier, check_readable


@dataclass(frozen=True)
class Limits:
    """Bounds of one request and of batching (each a ``textmix serve`` option)."""

    max_texts: int = 256
    max_chars: int = 10_000
    max_body_bytes: int = 4 * 2**20
    max_batch: int = 64
    max_wait_ms: float = 5.0


class Batcher:
    """Dynamic batching: the texts of requests waiting together are classified in one call of
    ``classify`` (texts → calibrated probabilities (N, K)), run in a worker thread so the server
    keeps accepting requests meanwhile."""

    def __init__(self, classify, max_batch: int, max_wait_ms: float):
        self.classify, self.max_batch, self.max_wait = classify, max_batch, max_wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue()
        self.passes = self.texts = 0

    async def __call__(self, texts: list[str]) -> np.ndarray:
        done = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, done))
        return await done

    async def _gather(self) -> list:
        """The first waiting request, and those that follow within max_wait, up to max_batch texts."""
        loop = asyncio.get_running_loop()
        items = [await self.queue.get()]
        size, deadline = len(items[0][0]), loop.time() + self.max_wait
        while size < self.max_batch and (left := deadline - loop.time()) > 0:
            try:
                items.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
            size += len(items[-1][0])
        return items

    async def run(self) -> None:
        while True:
            items = await self._gather()
            texts = [t for batch, _ in items for t in batch]
            try:
                probs = await asyncio.to_thread(self.classify, texts)
            except Exception as error:  # noqa: BLE001 - every waiting request gets the error, the loop goes on
                for _, done in items:
                    if not done.done():
                        done.set_exception(error)
                continue
            self.passes, self.texts = self.passes + 1, self.texts + len(texts)
            start = 0
            for batch, done in items:
                if not done.done():  # a client that went away
                    done.set_result(probs[start : start + len(batch)])
                start += len(batch)


class Conformal(BaseModel):
    alpha: float = Field(0.1, gt=0, lt=1, description="miscoverage: the set holds the label with prob. >= 1 - alpha")
    method: str = Field("lac", description="a conformal score the model stores (lac; aps, raps, saps where stored)")


def request_model(limits: Limits) -> type[BaseModel]:
    """The /predict request, with this server's bounds in its schema."""
    text = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_chars)]

    class PredictRequest(BaseModel):
        texts: list[text] = Field(min_length=1, max_length=limits.max_texts, description="texts to classify")
        conformal: Conformal | None = Field(None, description="also give each text's conformal label set")
        abstain_below: float | None = Field(None, ge=0, le=1, description="abstain below this probability")
        target_risk: float | None = Field(None, gt=0, lt=1, description="abstain so that, with probability >= "
                                          "1 - delta, the error rate among answered texts is <= this")  # fmt: skip
        delta: float = Field(0.1, gt=0, lt=1)

    return PredictRequest


def model_info(source: str, classifier: CalibratedClassifier) -> dict:
    """What GET /model says: names, calibrators, stored sets, the run's test metrics and the card."""
    folder = find_model_folder(source)
    try:  # the run's metrics are a courtesy: a folder without them, or damaged ones, serves all the same
        test = json.loads(RunDir(folder.parent).metrics.read_text())["test"]
        test = {k: float(test[k]) for k in ("accuracy", "ece", "nll")}
    except (OSError, ValueError, KeyError, TypeError):
        test = None
    card = folder / "README.md"
    return {
        "source": source,
        "labels": classifier.label_names,
        "calibrator": classifier.calibrator.name if classifier.calibrator is not None else "none",
        "conformal_methods": sorted((classifier.conformal or {}).get("methods", {})),
        "guaranteed_abstention": bool(classifier.risk_control),
        "test_metrics_uncalibrated": test,
        "card": card.read_text()[:2000] if card.is_file() else None,
    }


def respond(classifier: CalibratedClassifier, request, probs: np.ndarray, cache: dict) -> dict:
    """One /predict answer from the calibrated probabilities of its texts (``cache``: the thresholds
    and conformal predictors asked for so far, each computed once)."""
    names, threshold, guarantee = classifier.label_names, request.abstain_below, None
    if request.target_risk is not None and threshold is not None:
        raise ArgumentError("give abstain_below or target_risk, not both")
    if request.target_risk is not None:
        key = ("risk", request.target_risk, request.delta)
        control = cache.get(key) or cache.setdefault(key, classifier.risk_threshold(*key[1:]))
        threshold = control.threshold
        guarantee = (f"with probability >= {1 - request.delta:g} the error rate among answered texts is <= "
                     f"{request.target_risk:g} (Learn then Test)")  # fmt: skip
    sets = None
    if request.conformal is not None:
        key = ("conformal", request.conformal.alpha, request.conformal.method)
        predictor = cache.get(key) or cache.setdefault(key, classifier.conformal_predictor(*key[1:]))
        sets = [[n for n, keep in zip(names, row) if keep] for row in predictor.predict(probs)]
    predictions = []
    for k, row in enumerate(probs):
        best = int(row.argmax())
        answer = {"label": names[best], "best_label": names[best], "probability": float(row[best]),
                  "probabilities": {n: float(p) for n, p in zip(names, row)}}  # fmt: skip
        if threshold is not None and row[best] < threshold:
            answer["label"] = "abstain"
        if sets is not None:
            answer["set"] = sets[k]
        predictions.append(answer)
    threshold = None if threshold is None or threshold == float("inf") else float(threshold)
    return {"predictions": predictions, "threshold": threshold, "guarantee": guarantee}


def create_app(classifier: CalibratedClassifier, info: dict, limits: Limits = Limits()) -> FastAPI:
    """The FastAPI application serving ``classifier`` (see the module docstring)."""
    batcher = Batcher(lambda texts: classifier.predict_proba(texts), limits.max_batch, limits.max_wait_ms)
    cache: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()  # uvicorn has finished the in-flight requests by now

    app = FastAPI(title="textmix", summary=f"calibrated text classifier: {', '.join(info['labels'])}",
                  lifespan=lifespan)  # fmt: skip
    PredictRequest = request_model(limits)

    @app.middleware("http")
    async def bounded_body(request: Request, call_next):
        size = request.headers.get("content-length", "0")
        if size.isdigit() and int(size) > limits.max_body_bytes:
            return JSONResponse({"detail": f"the request body is {int(size):,} bytes; this server takes at most "
                                 f"{limits.max_body_bytes:,} (--max-body-bytes)"}, status_code=413)  # fmt: skip
        return await call_next(request)

    @app.post("/predict")
    async def predict(request: PredictRequest) -> dict:
        try:
            check_readable(request.texts, classifier.featurizer)
            probs = await batcher(request.texts)
            return respond(classifier, request, probs, cache)
        except TextmixError as error:  # an unreadable text, a method or risk the model cannot give
            raise HTTPException(status_code=422, detail=str(error)) from None

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "forward_passes": batcher.passes, "texts": batcher.texts}

    @app.get("/model")
    async def model() -> dict:
        return info

    return app


def serve(source: str, host: str, port: int, limits: Limits, calibrator: str | None, device: str) -> None:
    """Load the model, then serve it until SIGINT / SIGTERM (in-flight requests are answered)."""
    import uvicorn

    from textmix.text.predict import load_model

    classifier = load_model(source, device=device, calibrator=calibrator)
    app = create_app(classifier, model_info(source, classifier), limits)
    # uvicorn answers the in-flight requests on SIGINT / SIGTERM, then raises the signal again to the
    # handler it found: this one records it, so a requested stop exits 0 rather than as killed
    stops = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stops.append(number))
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)


__all__ = ["Limits", "create_app", "serve"]
