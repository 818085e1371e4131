"""``textmix serve``: a real server process on the loopback, real HTTP clients (urllib). Concurrent
clients get exactly what ``load_model(...).predict`` gives (label, calibrated probabilities, the
conformal set, guaranteed abstention), their texts are batched, oversize and unreadable requests
get a 4xx and the server keeps serving, SIGTERM stops it cleanly."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import textmix

pytestmark = pytest.mark.extras
pytest.importorskip("fastapi", reason="the serve extra is absent: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is absent: pip install -e '.[serve]'")

TEXTS = ["a gripping, funny film", "dull and far too long", "an honest, moving story", "a tedious mess",
         "the cast is wonderful", "i wanted to leave", "a small gem", "nothing works here"]  # fmt: skip


def call(url: str, body: dict | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def server(small_mr_run):
    with socket.socket() as probe:  # a free port on the loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "textmix", "serve", str(small_mr_run), "--port", str(port), "--max-texts", "32",
               "--max-chars", "500", "--max-body-bytes", "20000", "--max-wait-ms", "50"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if call(f"{url}/health")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stdout.read()[-3000:]}")
    yield url, process
    if process.poll() is None:
        process.kill()


def test_concurrent_clients_get_what_predict_gives_in_batches(server, small_mr_run):
    url, _ = server
    model = textmix.load_model(small_mr_run)
    before = call(f"{url}/health")[1]
    body = lambda k: {"texts": TEXTS[k : k + 2], "conformal": {"alpha": 0.1}}  # noqa: E731
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda k: call(f"{url}/predict", body(k % 7)), range(48)))
    after = call(f"{url}/health")[1]
    sets = model.predict_set(TEXTS, alpha=0.1)
    for k, (status, answer) in enumerate(answers):
        assert status == 200, answer
        texts = TEXTS[k % 7 : k % 7 + 2]
        for got, want, labels in zip(answer["predictions"], model.predict(texts), sets[k % 7 : k % 7 + 2]):
            assert got["label"] == want["label"] and got["set"] == labels
            np.testing.assert_allclose(list(got["probabilities"].values()), list(want["probabilities"].values()),
                                       atol=1e-6)  # fmt: skip
    assert after["texts"] - before["texts"] == 96
    assert after["forward_passes"] - before["forward_passes"] < 48  # requests that waited together shared a pass


def test_guaranteed_abstention_and_the_model_description(server, small_mr_run):
    url, _ = server
    model = textmix.load_model(small_mr_run)
    status, answer = call(f"{url}/predict", {"texts": TEXTS, "target_risk": 0.3, "delta": 0.1})
    assert status == 200
    want = model.predict_or_abstain(TEXTS, risk=0.3, delta=0.1)
    assert [p["label"] for p in answer["predictions"]] == [w["label"] for w in want]
    assert "error rate among answered texts is <= 0.3" in answer["guarantee"]
    status, info = call(f"{url}/model")
    assert status == 200 and info["labels"] == ["neg", "pos"] and info["conformal_methods"] == ["lac"]
    assert info["calibrator"] == model.calibrator.name and info["test_metrics_uncalibrated"]["accuracy"] > 0
    schema = call(f"{url}/openapi.json")[1]
    assert "/predict" in schema["paths"] and "/model" in schema["paths"]


def test_oversize_and_unreadable_requests_get_a_4xx_and_the_server_keeps_serving(server):
    url, _ = server
    cases = [
        ({"texts": ["fine"] * 33}, 422, "at most 32"),  # more texts than --max-texts
        ({"texts": ["x" * 501]}, 422, "at most 500"),  # a text longer than --max-chars
        ({"texts": []}, 422, "at least 1"),
        ({"texts": ["☺ ★ ### ~~"]}, 422, "no word the model can read"),
        ({"texts": ["fine"], "conformal": {"alpha": 0.1, "method": "aps"}}, 422, "aps"),
        ({"texts": ["fine"], "conformal": {"alpha": 1.5}}, 422, "less than 1"),
        ({"texts": ["fine"], "abstain_below": 0.8, "target_risk": 0.1}, 422, "not both"),
    ]
    for body, code, says in cases:
        status, answer = call(f"{url}/predict", body)
        assert status == code and says in json.dumps(answer), (body, answer)
    status, answer = call(f"{url}/predict", raw=b'{"texts": ["' + b"a" * 30000 + b'"]}')  # > --max-body-bytes
    assert status == 413 and "at most 20,000" in answer["detail"]
    assert call(f"{url}/predict", {"texts": ["a gripping, funny film"]})[0] == 200  # still serving


def test_sigterm_stops_the_server_cleanly(server):
    url, process = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Shutting down" in process.stdout.read()
