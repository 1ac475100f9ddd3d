"""What a request to the live page's API may hold: the body read within a size limit, parsed as
JSON and checked field by field, so that any bad input becomes one `RequestError` naming the field."""

import json
import math

import numpy as np

from nnscope.errors import NnscopeError

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 28 x 28 image in JSON is about 20 kB; 2 MiB leaves room for any precision
SIDE = 28  # the model reads 1 x 28 x 28 images
ANALYZE_DEFAULTS = {"patch": 8, "stride": 1, "fill": 0.0}  # the optional fields of POST /api/analyze
ANALYZE_FIELDS = ("image", *ANALYZE_DEFAULTS)


class RequestError(NnscopeError):
    """A request the API refuses: HTTP `status` and the `field` the one-line message names."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


def check_body_size(content_length: str | None, received: int, limit: int = MAX_BODY_BYTES) -> None:
    """Raise a 413 RequestError when the declared or the received body is over `limit` bytes."""
    if content_length is not None and (not content_length.isdigit() or int(content_length) > limit):
        raise RequestError("body", f"{content_length} bytes declared; expected at most {limit} bytes", 413)
    if received > limit:
        raise RequestError("body", f"over {limit} bytes; expected at most {limit} bytes", 413)


def check_content_type(content_type: str | None) -> None:
    """Raise a 415 RequestError unless the body is declared JSON (a page elsewhere then cannot post
    to this server without the browser asking first, which it never answers)."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise RequestError("content-type", f"{content_type or 'missing'!r}; expected 'application/json'", 415)


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object; NaN and Infinity literals are kept as floats, for the field check to name."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=float)
    except UnicodeDecodeError:
        raise RequestError("body", "not UTF-8 text; expected a JSON object") from None
    except json.JSONDecodeError as e:
        raise RequestError("body", f"not JSON ({e.msg} at line {e.lineno}, column {e.colno}); expected a JSON object") from None
    except RecursionError:
        raise RequestError("body", "nested too deeply; expected a JSON object") from None
    if not isinstance(value, dict):
        raise RequestError("body", f"a JSON {type(value).__name__}; expected a JSON object")
    return value


def check_fields(payload: dict, allowed: tuple[str, ...]) -> None:
    """Raise a RequestError naming the first field that is not in `allowed`."""
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise RequestError(unknown[0], f"unknown field; expected only {', '.join(allowed)}")


def is_number(value) -> bool:
    """A JSON number (int or float); true and false are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def whole_number(payload: dict, field: str, low: int, high: int) -> int:
    """payload[field] (or its default) as an int from `low` to `high`."""
    value = payload.get(field, ANALYZE_DEFAULTS.get(field))
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(field, f"{json.dumps(value)}; expected a whole number from {low} to {high}")
    return value


def grey_value(payload: dict, field: str) -> float:
    """payload[field] (or its default) as a float in [0, 1]."""
    value = payload.get(field, ANALYZE_DEFAULTS.get(field))
    if not is_number(value) or not 0.0 <= value <= 1.0:  # NaN fails the range test too
        shown = value if is_number(value) and math.isfinite(value) else json.dumps(value)
        raise RequestError(field, f"{shown}; expected a grey value from 0 (black) to 1 (white)")
    return float(value)


def grey_image(value, field: str = "image") -> np.ndarray:
    """A SIDE x SIDE (or 1 x SIDE x SIDE) nested list of numbers in [0, 1] as float32 (1, SIDE, SIDE)."""
    expected = f"expected {SIDE} x {SIDE} grey values in [0, 1] (or 1 x {SIDE} x {SIDE})"
    if value is None:
        raise RequestError(field, f"missing; {expected}")
    if not isinstance(value, list):
        raise RequestError(field, f"a JSON {type(value).__name__}; {expected}")
    try:
        cells = np.array(value, dtype=object)
    except ValueError:  # numpy refuses some ragged nestings outright
        cells = None
    if cells is None or cells.shape not in ((SIDE, SIDE), (1, SIDE, SIDE)):
        shape = " x ".join(map(str, cells.shape)) if cells is not None and cells.ndim > 0 else "not rectangular"
        raise RequestError(field, f"shape {shape}; {expected}")
    flat = cells.reshape(-1)
    for k, cell in enumerate(flat):
        if not is_number(cell):
            row, col = divmod(k, SIDE)
            raise RequestError(field, f"{json.dumps(cell)} at row {row}, column {col}; {expected}")
    pixels = flat.astype(np.float64).reshape(1, SIDE, SIDE)
    bad = np.flatnonzero(~((pixels >= 0.0) & (pixels <= 1.0)))  # NaN and infinities included
    if len(bad):
        row, col = divmod(int(bad[0]), SIDE)
        raise RequestError(field, f"{json.dumps(flat[bad[0]])} at row {row}, column {col}; {expected}")
    return pixels.astype(np.float32)


def analyze_request(payload: dict) -> dict:
    """The checked arguments of one analyze: image (1, 28, 28) float32, patch, stride, fill."""
    check_fields(payload, ANALYZE_FIELDS)
    return {"image": grey_image(payload.get("image")), "patch": whole_number(payload, "patch", 1, SIDE),
            "stride": whole_number(payload, "stride", 1, SIDE), "fill": grey_value(payload, "fill")}


def image_index(query: dict, count: int) -> int:
    """The `index` query parameter of GET /api/test-image, a whole number from 0 to count - 1."""
    check_fields(query, ("index",))
    text = query.get("index", "")
    if not (text.isascii() and text.isdigit()) or int(text) >= count:
        raise RequestError("index", f"{text!r}; expected a whole number from 0 to {count - 1}")
    return int(text)
