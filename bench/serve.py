"""Serving throughput and latency: ``textmix serve`` under concurrent clients against calling
``predict_proba`` in-process on the same texts, in one run.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.serve [--run runs/mr_kim_cnn_mixup] [--clients 16]

Without ``--run`` (or when it does not exist) the main job's recipe is trained for one epoch into a
temporary folder (the main job's vocabulary and model size). 2,000 MR sentences; the server gets
one text per request from ``--clients`` concurrent HTTP clients (urllib, keep-alive off: what an
online caller sends), then 64 texts per request (a client that batches); the in-process reference
is ``predict_proba`` on batches of 64. Reports texts per second of each and their ratio to the
reference, the server's p50 / p99 latency of one-text requests and how many texts a forward pass
took on average (dynamic batching). Writes
bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import main_job_run, write_result


def mr_texts(n: int) -> list[str]:
    folder = Path(os.environ.get("TEXTMIX_DATA_DIR", "../shared/data")) / "mr"
    lines = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        text = (folder / name).read_bytes().decode("cp1252", errors="replace")
        lines += [line.strip() for line in text.splitlines() if line.strip()][: n // 2]
    return lines


def post(url: str, texts: list[str]) -> float:
    started = time.perf_counter()
    request = urllib.request.Request(url, data=json.dumps({"texts": texts}).encode(),
                                     headers={"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    return time.perf_counter() - started


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "textmix", "serve", str(run), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=5).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def measure(run: Path, clients: int, n: int) -> dict:
    import textmix

    texts = mr_texts(n)
    model = textmix.load_model(run)
    model.predict_proba(texts[:64])  # warm
    started = time.perf_counter()
    for k in range(0, len(texts), 64):
        model.predict_proba(texts[k : k + 64])
    in_process = len(texts) / (time.perf_counter() - started)
    process, url = start_server(run)
    try:
        post(f"{url}/predict", texts[:8])  # warm
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(lambda t: post(f"{url}/predict", [t]), texts))
        served = len(texts) / (time.perf_counter() - started)
        health = json.loads(urllib.request.urlopen(f"{url}/health").read())
        chunks = [texts[k : k + 64] for k in range(0, len(texts), 64)]  # clients that batch themselves
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda chunk: post(f"{url}/predict", chunk), chunks))
        served_64 = len(texts) / (time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=60)
    cuts = statistics.quantiles(latencies, n=100)
    rows = {"texts": len(texts), "clients": clients, "in_process_texts_per_s": in_process,
            "served_texts_per_s": served, "ratio_served_to_in_process": served / in_process,
            "served_64_a_request_texts_per_s": served_64, "ratio_served_64_to_in_process": served_64 / in_process,
            "latency_p50_ms": 1000 * cuts[49], "latency_p99_ms": 1000 * cuts[98],
            "texts_per_forward_pass": health["texts"] / max(health["forward_passes"], 1)}  # fmt: skip
    for key, value in rows.items():
        print(f"{key:28s} {value:.2f}" if isinstance(value, float) else f"{key:28s} {value}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mr_kim_cnn_mixup")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = main_job_run(args.run, folder)
        rows = measure(run, args.clients, args.texts)
    write_result("serve", rows)


if __name__ == "__main__":
    main()
