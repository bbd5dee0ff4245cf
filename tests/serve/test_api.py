"""fromzero serve's JSON API through an HTTP client (FastAPI's TestClient) on tiny runs of every kind:
the answers agree with the library's, bad input gets a 4xx naming what was expected and what came, and
the server keeps serving; a full queue gets 503."""
import io
import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="fromzero serve needs the serve extra: pip install 'fromzero[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from fromzero.recipes.configs import ServeConfig  # noqa: E402
from fromzero.recipes.runs import predict_many  # noqa: E402
from fromzero.serve.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DIGIT = "examples/digit-7.png"


@pytest.fixture(scope="module")
def client(mnist_run, gpt_run, text_run, forecast_run):
    app = create_app([mnist_run, gpt_run, text_run, forecast_run[0]],
                     ServeConfig(max_body=100_000, max_chars=500, max_new_tokens=64, queue=1, timeout=60))
    with TestClient(app) as c:
        yield c


def png_bytes(path=DIGIT) -> bytes:
    return (ROOT / path).read_bytes()


def test_the_page_shows_and_info_lists_every_run(client, mnist_run, gpt_run):
    page = client.get("/")
    assert page.status_code == 200 and "画一个数字" in page.text and "<script src=" not in page.text  # no CDN
    info = client.get("/api/info").json()
    assert set(info["endpoints"]) == {"predict", "generate", "classify", "forecast"}
    assert info["endpoints"]["predict"]["run"] == str(mnist_run)
    assert info["limits"]["max_new_tokens"] == 64
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs").text                         # the OpenAPI page works offline: its scripts are ours
    assert "/docs-static/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200


def test_predict_answers_as_the_library_does(client, mnist_run):
    raw = client.post("/api/predict", content=png_bytes(), headers={"Content-Type": "image/png"})
    form = client.post("/api/predict", files={"file": ("seven.png", png_bytes(), "image/png")})
    want = predict_many(mnist_run, [str(ROOT / DIGIT)], device="cpu")[0]
    for r in (raw, form):
        assert r.status_code == 200, r.text
        top = r.json()["top"]
        assert len(top) == 3 and [c for c, _ in top] == [c for c, _ in want["top"]]
        assert top[0][1] == pytest.approx(want["top"][0][1], abs=1e-5)


def test_generate_streams_server_sent_events(client):
    with client.stream("POST", "/api/generate", json={"prompt": "the ", "max_new_tokens": 12, "seed": 0}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = [(b.split("\n")[0].removeprefix("event: "), json.loads(b.split("\n")[1].removeprefix("data: ")))
              for b in body.strip().split("\n\n")]
    tokens = [d["text"] for e, d in events if e == "token"]
    assert events[-1][0] == "done" and len(tokens) >= 1 and "".join(tokens) == events[-1][1]["text"]
    again = client.post("/api/generate", json={"prompt": "the ", "max_new_tokens": 12, "seed": 0, "stream": False})
    assert again.json()["text"] == events[-1][1]["text"]   # the same seed, the same text, streamed or not


def test_classify_and_forecast(client, text_run, forecast_run):
    r = client.post("/api/classify", json={"text": "the film was great"})
    assert r.status_code == 200 and {c for c, _ in r.json()["top"]} == {"0", "1"}
    want = predict_many(text_run, ["the film was great"])[0]["top"]
    assert r.json()["top"][0][1] == pytest.approx(want[0][1], abs=1e-5)
    run, csv = forecast_run
    f = client.post("/api/forecast", content=csv.read_bytes(), headers={"Content-Type": "text/csv"})
    assert f.status_code == 200, f.text
    assert f.json()["columns"] == ["units"] and len(f.json()["forecast"]) == 7
    want = predict_many(run, [str(csv)])[0]["forecast"]
    assert [v for row in f.json()["forecast"] for v in row] == pytest.approx([v for row in want for v in row])
    lines = csv.read_text().splitlines()
    last = lines[-1].split(",")
    huge = "\n".join(lines[:-1] + [",".join(last[:-1] + ["1e300"])]) + "\n"     # finite in, not finite out
    f = client.post("/api/forecast", content=huge.encode(), headers={"Content-Type": "text/csv"})
    assert f.status_code == 422 and "not a finite number" in f.json()["error"], f.text


@pytest.mark.parametrize("method, path, kwargs, status, words", [
    ("post", "/api/predict", {"content": b"this is not an image", "headers": {"Content-Type": "text/plain"}},
     422, ["expected an image file", "20 bytes of text/plain"]),
    ("post", "/api/predict", {"content": b""}, 422, ["expected an image file", "empty body"]),
    ("post", "/api/predict", {"content": b"\0" * 200_000}, 413, ["at most 100,000 bytes", "got 200,000"]),
    ("post", "/api/generate", {"json": {"prompt": "a" * 1_000_000}}, 413, ["at most 100,000 bytes"]),
    ("post", "/api/generate", {"json": {"prompt": "a" * 600}}, 422, ["at most 500 characters", "got 600"]),
    ("post", "/api/generate", {"json": {"prompt": "the", "max_new_tokens": 10_000}}, 422,
     ["max_new_tokens: expected at most 64", "got 10000"]),
    ("post", "/api/generate", {"json": {"max_new_tokens": "many"}}, 422, ["max_new_tokens: expected", "'many'"]),
    ("post", "/api/generate", {"json": {"prompt": "€€"}}, 422, ["never seen", "'€'"]),
    ("post", "/api/generate", {"content": b'{"prompt": "the', "headers": {"Content-Type": "application/json"}},
     422, ["expected a JSON object, got malformed JSON"]),
    ("post", "/api/generate", {"json": {"prompt": "the", "seed": 2 ** 64}}, 422, ["seed"]),
    ("post", "/api/generate", {"content": b'{"prompt": "the", "temperature": 1e999}',
                               "headers": {"Content-Type": "application/json"}}, 422, ["temperature"]),
    ("post", "/api/classify", {"json": {"txt": "hello"}}, 422, ["text: expected a value, got none"]),
    ("post", "/api/classify", {"json": {"text": "   "}}, 422, ["expected a sentence, got empty text"]),
    ("post", "/api/forecast", {"content": b"", "headers": {"Content-Type": "text/csv"}}, 422,
     ["expected a CSV file", "empty body"]),
    ("post", "/api/forecast", {"content": b"date,units\n", "headers": {"Content-Type": "text/csv"}}, 422,
     ["upload.csv"]),
    ("get", "/api/nothing", {}, 404, ["Not Found"]),
])
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(client, method, path, kwargs, status, words):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["error"]
    assert client.post("/api/classify", json={"text": "a good film"}).status_code == 200


def test_a_full_queue_gets_503_and_nothing_waits_unbounded(client):
    worker = client.app.state.worker
    release = threading.Event()
    held = [worker.submit(lambda job: release.wait()) for _ in range(worker.capacity)]   # running + waiting
    try:
        r = client.post("/api/classify", json={"text": "a good film"})
        assert r.status_code == 503 and "busy" in r.json()["error"] and r.headers["retry-after"] == "1"
        s = client.post("/api/generate", json={"prompt": "the", "max_new_tokens": 3})
        assert s.status_code == 200 and "event: error" in s.text and '"status": 503' in s.text
    finally:
        release.set()
    for _, future in held:
        future.result(timeout=30)
    assert worker.pending == 0
    assert client.post("/api/classify", json={"text": "a good film"}).status_code == 200


def test_a_request_past_its_timeout_gets_504_and_its_job_is_skipped(mnist_run, text_run):
    app = create_app([text_run], ServeConfig(queue=2, timeout=0.2))
    worker, release = app.state.worker, threading.Event()
    ran = []
    with TestClient(app) as c:
        blocker = worker.submit(lambda job: release.wait())
        r = c.post("/api/classify", json={"text": "a good film"})
        assert r.status_code == 504 and "--timeout" in r.json()["error"]
        late = worker.submit(lambda job: ran.append(1))
        release.set()
        blocker[1].result(timeout=30)
        late[1].result(timeout=30)
        assert ran == [1] and worker.pending == 0   # the timed-out job was skipped, the next one ran


def test_two_runs_of_one_kind_and_a_run_of_no_kind_are_refused(mnist_run, tmp_path):
    from fromzero.errors import CheckpointError, ConfigError

    with pytest.raises(ConfigError, match="both answer /api/predict"):
        create_app([mnist_run, mnist_run])
    with pytest.raises(CheckpointError, match="not a fromzero run"):
        create_app([tmp_path])


def test_a_port_in_use_is_refused_before_the_models_load():
    import socket

    from fromzero.errors import FromzeroError
    from fromzero.recipes.configs import ServeConfig
    from fromzero.serve.app import run_server

    with socket.create_server(("127.0.0.1", 0)) as busy:
        with pytest.raises(FromzeroError, match="cannot listen on 127.0.0.1"):
            run_server(["no-such-run"], ServeConfig(port=busy.getsockname()[1]))
