"""The live page's ASGI app (Starlette): one page, its script and styles from memory, and a JSON API.

Every error is a JSON `{"error": "field: what is wrong; what was expected", "field": ...}` with a 4xx
status and no stack trace; a request never reaches the file system (the page and its files are read
once, when the app is made); the model runs on one worker thread, one request at a time, each
using every torch thread, so concurrent clients queue and every answer is the one a lone client gets.
"""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnscope.errors import ExitCalled, NnscopeError
from nnscope.frontend import source as frontend_source
from nnscope.models import LoadedModel
from nnscope.serve.analysis import analyze, describe_model, digit_page
from nnscope.serve.rnn_page import rnn_page_files
from nnscope.serve.validation import (
    MAX_BODY_BYTES, RequestError, body_limit, check_body_size, check_content_type, image_index,
    model_analyze_request, model_defaults, parse_json_object,
)

# the page may only load what this server sends, draw data:/blob: images (a dropped file) and call back
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store")]
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
DRAIN_BYTES = 64 * 2**20  # an oversized body is read (and dropped) up to this size before the 413 is sent


def page_files(model_description: dict) -> dict[str, tuple[bytes, str]]:
    """path -> (content, media type) of the page and its files, rendered and read once."""
    env = Environment(loader=PackageLoader("nnscope.serve", "templates"), autoescape=select_autoescape(["j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("page.html.j2").render(model=model_description)
    files = {"/": (html.encode(), "text/html; charset=utf-8")}
    # the report's styles, then the page's own on top
    for package, name in (("nnscope.report", "report.css"), ("nnscope.serve", "serve.css"),
                          ("nnscope.serve", "serve-input.js"), ("nnscope.serve", "serve.js")):
        text = resources.files(package).joinpath("templates", name).read_bytes()
        files[f"/static/{name}"] = (text, STATIC_TYPES[name[name.rindex("."):]])
    files["/static/widgets.js"] = (frontend_source("widgets.js").encode(), STATIC_TYPES[".js"])  # the shared widgets
    files.update(rnn_page_files())  # /rnn: Problems 3 and 5, editable
    return files


def error_response(status: int, message: str, field: str | None = None) -> JSONResponse:
    """The JSON error every failure answers with."""
    return JSONResponse({"error": message, **({"field": field} if field else {})}, status_code=status)


class SecurityHeaders:
    """ASGI middleware: the Content-Security-Policy and friends on every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 once it is over `limit` bytes. The rest of an oversized body (up to
    DRAIN_BYTES) is read and dropped first, so that the client, still sending, can read the 413 instead of
    having its connection reset."""
    chunks, received, refusal = [], 0, None
    try:
        check_body_size(request.headers.get("content-length"), 0, limit)
    except RequestError as e:
        refusal = e
    async for chunk in request.stream():
        received += len(chunk)
        if refusal is None:
            try:
                check_body_size(None, received, limit)
            except RequestError as e:
                refusal, chunks = e, []
        if refusal is None:
            chunks.append(chunk)
        elif received > DRAIN_BYTES:
            break  # a client that sends this much more gets its connection closed
    if refusal is not None:
        raise refusal
    return b"".join(chunks)


def analyzer(model: LoadedModel, test_images: np.ndarray | None = None, start_image: np.ndarray | None = None,
             start_source: str | None = None) -> tuple:
    """(description, checked arguments of a payload, analyze of them, body limit, a blank input's arguments) of a
    loaded model (nnscope.models.LoadedModel): what POST /api/analyze runs, shared by the live page and the
    notebook's Draw widget. A model of 1 x 28 x 28 images of the ten digits gets the digit page."""
    description = describe_model(model, start_image, start_source)
    description["page"] = "digits" if digit_page(model) else "model"
    description["defaults"] = model_defaults(model.input_shape)
    description["test_images"] = 0 if test_images is None else len(test_images)

    def checked(payload: dict) -> dict:
        return model_analyze_request(payload, model.input_shape)

    def compute(arguments: dict) -> dict:
        return analyze(model, **arguments)

    blank = {"image": np.zeros(model.input_shape, np.float32), "patch": description["defaults"]["patch"],
             "stride": 1, "fill": (0.0,)}
    return description, checked, compute, body_limit(model.input_shape), blank


def create_app(model: LoadedModel, test_images: np.ndarray | None = None, test_labels: np.ndarray | None = None,
               warm_up: bool = True, start_image: np.ndarray | None = None, start_source: str | None = None) -> Starlette:
    """The app for a loaded model (nnscope.models.LoadedModel): the page sized to its input, with its class names
    and conv layers, starting from `start_image` (C, H, W) in [0, 1] when given; a model of 1 x 28 x 28 images of
    the ten digits gets the digit page, where test images (N, 28, 28) uint8 and labels feed 'load a test image'."""
    description, checked, compute, limit, blank = analyzer(model, test_images, start_image, start_source)
    files = page_files(description)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnscope-model")
    turn = asyncio.Lock()  # one analysis at a time; a client that left while it waited is dropped, not served
    if warm_up:  # builds the C loops and fills torch's caches before the first request
        compute(blank)

    async def on_worker(function, *args):
        return await asyncio.get_running_loop().run_in_executor(worker, function, *args)

    async def static(request: Request) -> Response:
        content, media_type = files.get(request.url.path, (None, None))
        if content is None:
            raise HTTPException(404)
        return Response(content, media_type=media_type)

    async def model_info(request: Request) -> JSONResponse:
        return JSONResponse(description)

    async def analyze_endpoint(request: Request) -> JSONResponse:
        check_content_type(request.headers.get("content-type"))
        arguments = checked(parse_json_object(await read_body(request, limit)))
        async with turn:
            if await request.is_disconnected():
                return error_response(499, "the client closed the connection before its turn")
            try:
                return JSONResponse(await on_worker(compute, arguments))
            except NnscopeError as e:  # the model failed on this image (non-finite logits): its fault, said as such
                return error_response(500, f"{e}; the server keeps serving", "model")
            except (SystemExit, ExitCalled) as e:  # the model's code tried to end the process: it is not obeyed
                what = str(e) if isinstance(e, ExitCalled) else f"the model called sys.exit({e.code!r})"
                return error_response(500, f"{what}; the server keeps serving", "model")

    async def test_image(request: Request) -> JSONResponse:
        if test_images is None:
            raise RequestError("index", "this server has no test images (the MNIST cache could not be read)", 404)
        index = image_index(dict(request.query_params), len(test_images))
        return JSONResponse({"index": index, "label": int(test_labels[index]),
                             "image": (test_images[index] / 255.0).tolist()})

    async def refused(request: Request, error: RequestError) -> JSONResponse:
        return error_response(error.status, str(error), error.field)

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = {404: f"{request.url.path}: no such page or API", 405: f"{request.method} {request.url.path}: "
                   "method not allowed"}.get(error.status_code, str(error.detail))
        return error_response(error.status_code, message)

    async def server_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(500, "internal error; the server keeps serving")  # no stack trace leaves the server

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        worker.shutdown(wait=True, cancel_futures=True)

    routes = [Route(path, static, methods=["GET"]) for path in files]
    routes += [Route("/api/model", model_info, methods=["GET"]),
               Route("/api/analyze", analyze_endpoint, methods=["POST"]),
               Route("/api/test-image", test_image, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        RequestError: refused, HTTPException: http_error, Exception: server_error})
    app.add_middleware(SecurityHeaders)
    return app
