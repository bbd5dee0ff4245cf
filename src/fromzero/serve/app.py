"""The HTTP server: a JSON API over the runs given, a web page for people, and the limits.

Endpoints (each present only when a run of its kind is served; FastAPI's OpenAPI page is /docs):

* ``POST /api/predict``: an image (the raw bytes, or multipart field ``file``) -> the image
  classifier's top 3 classes: ``{"top": [[class, probability], ...], "inverted", "warning"}``.
* ``POST /api/generate``: ``{"prompt", "max_new_tokens", "temperature", "top_k", "top_p", "seed",
  "stream"}`` -> the text as server-sent events (``token`` events ``{"text": piece}``, then ``done``
  ``{"text": all of it}`` or ``error`` ``{"error"}``); ``"stream": false``: one JSON ``{"text"}``.
* ``POST /api/classify``: ``{"text"}`` -> the text classifier's ``{"top": [[class, p], ...]}``.
* ``POST /api/forecast``: a CSV file (raw, or multipart field ``file``) -> ``{"columns",
  "forecast": [[...] per step], "times"}`` for the steps after its last rows.
* ``GET /api/info``: the runs served and the limits; ``GET /``: the page.

Every error is ``{"error": message}`` naming what was expected and what came: 413 (body too large),
422 (bad input), 503 (the queue is full), 504 (timeout). The models run on one thread
(``fromzero.serve.worker.Worker``): requests wait their turn, and never race a model.

Example:
    >>> app = create_app(["runs/mnist-cnn"])   # then: uvicorn.run(app)  # doctest: +SKIP
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import socket
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from .. import __version__
from ..errors import FromzeroError
from ..recipes.configs import ServeConfig
from .models import Served, load_all, with_file
from .worker import Busy, Cancelled, Worker


def _openapi_page(app: FastAPI) -> None:
    """``/docs``: Swagger UI for the OpenAPI schema, its scripts served by this app from the
    ``swagger-ui-bundle`` package (FastAPI's own page loads them from a CDN: nothing offline)."""
    app.mount("/docs-static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="fromzero serve: API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon-32x32.png")

PAGE = Path(__file__).with_name("page.html")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class GenerateRequest(BaseModel):
    prompt: str = ""
    max_new_tokens: int | None = None   # this server's --max-new-tokens, at most 100
    temperature: float = 0.8
    top_k: int | None = 200
    top_p: float | None = None
    seed: int | None = Field(None, ge=0, lt=2**63)
    stream: bool = True


class ClassifyRequest(BaseModel):
    text: str


def create_app(runs: list | None = None, config: ServeConfig | None = None,
               served: dict[str, Served] | None = None) -> FastAPI:
    """The server's app for ``runs`` (each loaded once, here) under ``config``'s limits.

    ``served``: runs already loaded (``fromzero.serve.models.load_all``), to share them between apps.
    ``app.state.worker`` is the one model thread.
    """
    config = config or ServeConfig()
    served = served if served is not None else load_all(list(runs or []))
    worker = Worker(config.queue)
    app = FastAPI(title="fromzero serve", version=__version__, docs_url=None, redoc_url=None,
                  description="Predict, generate, classify and forecast with fromzero runs. "
                              "Errors are {\"error\": message}.")
    _openapi_page(app)
    app.state.worker, app.state.served, app.state.config = worker, served, config
    app.add_middleware(BodyLimit, max_body=config.max_body)
    _error_handlers(app)
    page = PAGE.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return page

    @app.get("/api/info")
    def info():
        """The runs served (by endpoint) and this server's limits."""
        return {"version": __version__, "limits": dataclasses.asdict(config),
                "endpoints": {name: {"run": s.run, "what": s.what, **s.info} for name, s in served.items()}}

    async def answer(fn, *args):
        return await _answer(worker, config.timeout, fn, *args)

    if "predict" in served:
        @app.post("/api/predict", openapi_extra=_file_body("image/png", "an image: PNG, JPEG, ..."))
        async def predict(request: Request):
            """The image classifier's top 3 classes for an image (raw bytes or multipart field ``file``)."""
            data, name, ctype = await _upload(request, "an image file (PNG, JPEG, ...)")
            r = (await answer(lambda job: with_file(data, name, lambda p: served["predict"].answer([p]))))[0]
            if "error" in r:
                raise ApiError(422, f"{r['error']} (received {len(data):,} bytes of {ctype})")
            return {k: r[k] for k in ("top", "inverted", "warning") if k in r}

    if "classify" in served:
        @app.post("/api/classify")
        async def classify(body: ClassifyRequest):
            """The text classifier's top classes for ``text``."""
            _check_length("text", body.text, config.max_chars)
            r = (await answer(lambda job: served["classify"].answer([body.text])))[0]
            if "error" in r:
                raise ApiError(422, r["error"])
            return {"top": r["top"]}

    if "forecast" in served:
        @app.post("/api/forecast", openapi_extra=_file_body("text/csv", "a CSV file whose last rows are the "
                                                            "input window"))
        async def forecast(request: Request):
            """The forecaster's next steps after the last rows of a CSV file (raw or multipart ``file``)."""
            data, name, _ = await _upload(request, "a CSV file with a header row")
            r = await answer(lambda job: with_file(data, name if name.endswith(".csv") else "upload.csv",
                                                   served["forecast"].answer))
            if not all(math.isfinite(v) for step in r["forecast"] for v in step):
                raise ApiError(422, "the forecast is not a finite number: the CSV's values are far outside what the "
                                    "model was trained on (expected values of the training data's magnitude)")
            return {k: r[k] for k in ("columns", "forecast", "times")}

    if "generate" in served:
        @app.post("/api/generate")
        async def generate(body: GenerateRequest):
            """Text after ``prompt``: server-sent events (``token``, then ``done`` or ``error``), or with
            ``"stream": false`` one JSON ``{"text"}``."""
            _check_length("prompt", body.prompt, config.max_chars)
            if body.max_new_tokens is None:
                body.max_new_tokens = min(100, config.max_new_tokens)
            if body.max_new_tokens > config.max_new_tokens:
                raise ApiError(422, f"max_new_tokens: expected at most {config.max_new_tokens} (this server's "
                                    f"--max-new-tokens), got {body.max_new_tokens}")
            lm = served["generate"]
            sampling = dict(max_new_tokens=body.max_new_tokens, temperature=body.temperature, top_k=body.top_k,
                            top_p=body.top_p)
            try:
                lm.check(body.prompt, **sampling)
            except FromzeroError as e:
                raise ApiError(422, str(e)) from None
            if not body.stream:
                text = await answer(lambda job: lm.answer(body.prompt, lambda piece: job.stop_if_cancelled(),
                                                          seed=body.seed, **sampling))
                return {"text": text}
            return StreamingResponse(_events(worker, config.timeout, lm, body.prompt, body.seed, sampling),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def run_server(runs: list, config: ServeConfig | None = None) -> None:
    """Load ``runs`` and serve them at ``config.host:config.port`` until interrupted (``fromzero serve``)."""
    config = config or ServeConfig()
    try:   # the address first: a port in use fails at once, before the models load
        with socket.create_server((config.host, config.port)):
            pass
    except OSError as e:
        raise FromzeroError(f"serve: cannot listen on {config.host}:{config.port} ({e.strerror or e}); expected a free "
                            "port (--port) and an address of this machine (--host)") from None
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {config.host}: the API is reachable from other machines and has no "
              "authentication; anyone who can reach this port can use the models", file=sys.stderr, flush=True)
    app = create_app(runs, config)
    for name, s in app.state.served.items():
        print(f"serving {s.run} ({s.what}) at POST /api/{name}", flush=True)
    print(f"page: http://{config.host}:{config.port}/   API docs: http://{config.host}:{config.port}/docs",
          flush=True)
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    finally:
        app.state.worker.close()


# --- running a job on the model thread -----------------------------------------------------------

async def _answer(worker: Worker, timeout: float, fn, *args):
    """``fn(job, *args)`` on the model thread: 503 when the queue is full, 504 past ``timeout``."""
    try:
        job, future = worker.submit(fn, *args)
    except Busy as e:
        raise ApiError(503, str(e)) from None
    try:   # shield: giving up must not cancel the job's future, whose end frees its place in the queue
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
    except asyncio.TimeoutError:
        job.cancelled = True
        raise ApiError(504, f"no answer within {timeout:g} s (this server's --timeout): the model was busy with "
                            "other requests or this one is too long") from None
    except asyncio.CancelledError:   # the client went away
        job.cancelled = True
        raise
    except FromzeroError as e:
        raise ApiError(422, str(e)) from None


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(worker: Worker, timeout: float, lm: Served, prompt: str, seed, sampling: dict):
    """The server-sent events of one generation; the pieces cross from the model thread by a queue
    (at most ``max_new_tokens`` of them: the cap bounds its memory)."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()

    def run(job):
        def on_text(piece: str):
            job.stop_if_cancelled()
            loop.call_soon_threadsafe(pieces.put_nowait, ("token", piece))
        return lm.answer(prompt, on_text, seed=seed, **sampling)

    try:
        job, future = worker.submit(run)
    except Busy as e:
        yield _sse("error", {"error": str(e), "status": 503})
        return
    future.add_done_callback(lambda f: loop.call_soon_threadsafe(pieces.put_nowait, ("end", f)))
    deadline = loop.time() + timeout
    try:
        while True:
            kind, value = await asyncio.wait_for(pieces.get(), max(0.0, deadline - loop.time()))
            if kind == "token":
                yield _sse("token", {"text": value})
                continue
            error = value.exception() if not value.cancelled() else Cancelled("cancelled")
            if error is None:
                yield _sse("done", {"text": value.result()})
            else:
                yield _sse("error", {"error": str(error) if isinstance(error, (FromzeroError, Cancelled)) else
                                     f"unexpected {type(error).__name__}: {error}", "status": 500})
            return
    except asyncio.TimeoutError:
        yield _sse("error", {"error": f"generation stopped after {timeout:g} s (this server's --timeout)",
                             "status": 504})
    finally:
        job.cancelled = True   # a finished job ignores it; a running one stops at its next token


# --- reading the request -------------------------------------------------------------------------

async def _upload(request: Request, expected: str) -> tuple[bytes, str, str]:
    """(bytes, file name, content type) of a raw body or a multipart form's ``file`` field."""
    ctype = request.headers.get("content-type", "no Content-Type")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, f"expected {expected} in the multipart field 'file', got fields: "
                                f"{', '.join(form.keys()) or 'none'}")
        data, name, ctype = await upload.read(), Path(upload.filename or "upload").name, upload.content_type
    else:
        data, name = await request.body(), "upload"
    if not data:
        raise ApiError(422, f"expected {expected} in the request body (raw, or multipart field 'file'), got an "
                            "empty body")
    return data, name, ctype


def _check_length(field: str, text: str, limit: int):
    if len(text) > limit:
        raise ApiError(422, f"{field}: expected at most {limit:,} characters (this server's --max-chars), got "
                            f"{len(text):,}")


def _file_body(ctype: str, what: str) -> dict:
    """The OpenAPI description of a body that is a file: raw, or a multipart field ``file``."""
    binary = {"type": "string", "format": "binary", "description": what}
    return {"requestBody": {"required": True, "content": {
        ctype: {"schema": binary},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": binary},
                                           "required": ["file"]}}}}}


# --- errors: {"error": message}, the server keeps serving ----------------------------------------

def _error_handlers(app: FastAPI):
    @app.exception_handler(ApiError)
    async def api_error(request, e: ApiError):
        headers = {"Retry-After": "1"} if e.status == 503 else None
        return JSONResponse({"error": str(e)}, status_code=e.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        return JSONResponse({"error": validation_message(e.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def unexpected(request, e: Exception):
        return JSONResponse({"error": f"unexpected {type(e).__name__}: {e} (a bug in fromzero serve)"},
                            status_code=500)


def validation_message(errors: list) -> str:
    """Pydantic's errors as one line: each field, what it expects and what came."""
    parts = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        got = repr(err.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        if err.get("type") == "json_invalid":
            parts.append(f"body: expected a JSON object, got malformed JSON ({err.get('ctx', {}).get('error', '')} "
                         f"at character {err.get('loc', ('', 0))[-1]})")
        elif err.get("type") == "missing":
            parts.append(f"{where}: expected a value, got none")
        else:
            parts.append(f"{where}: expected {err.get('msg', '').removeprefix('Input should be ')}, got {got}")
    return "; ".join(parts)


class BodyLimit:
    """Refuse (413) a request body over ``max_body`` bytes, by its Content-Length or while reading it;
    a body within the limit is read once and handed on (so memory per request is bounded)."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await self._too_large(send, length.decode("latin-1"))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return                                   # the client went away
            size += len(message.get("body", b""))
            if size > self.max_body:
                return await self._too_large(send, f"more than {size:,}")
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()                       # then: the disconnect a stream listens for

        await self.app(scope, replay, send)

    async def _too_large(self, send, got: str):
        got = f"{int(got):,}" if got.isdigit() else got
        body = json.dumps({"error": f"request body: expected at most {self.max_body:,} bytes (this server's "
                                    f"--max-body), got {got} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
