"""What a request to the live page's API may hold: the body read within a size limit, parsed as
JSON and checked field by field, so that any bad input becomes one `RequestError` naming the field."""

import json
import math

import numpy as np

from nnscope.errors import NnscopeError

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 28 x 28 image in JSON is about 20 kB; 2 MiB leaves room for any precision
MAX_WORK = 2 * 10**9  # occlusion positions x pixel values of one analysis (a few seconds of model time at most)
SIDE = 28  # the model reads 1 x 28 x 28 images
ANALYZE_DEFAULTS = {"patch": 8, "stride": 1, "fill": 0.0}  # the optional fields of POST /api/analyze
ANALYZE_FIELDS = ("image", *ANALYZE_DEFAULTS)


class RequestError(NnscopeError):
    """A request the API refuses: HTTP `status` and the `field` the one-line message names."""

    def __init__(self, field: str, message: str, status: int = 400):
        field, message = printable(field), printable(message)  # a lone surrogate in a name cannot be encoded
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


def printable(text: str) -> str:
    """`text` with what UTF-8 cannot encode (lone surrogates) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


def bounded_int(text: str) -> int | float:
    """A JSON integer; one of more than 18 digits becomes a float (infinite when too large), which the
    field checks refuse by range, instead of an int no float can hold."""
    return int(text) if len(text.lstrip("-")) <= 18 else float(text)


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object; NaN and Infinity literals are kept as floats, for the field check to name."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=float, parse_int=bounded_int)
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


def whole_number(payload: dict, field: str, low: int, high: int, defaults: dict = ANALYZE_DEFAULTS) -> int:
    """payload[field] (or its default) as an int from `low` to `high`."""
    value = payload.get(field, defaults.get(field))
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


def pixel_image(value, shape: tuple[int, int, int], field: str = "image") -> np.ndarray:
    """A C x H x W nested list of numbers in [0, 1] (H x W too when C is 1) as float32 (C, H, W); anything
    else is a RequestError naming the field, what came and what the model `shape` expects."""
    channels, height, width = shape
    if channels == 1:
        expected = f"expected {height} x {width} grey values in [0, 1] (or 1 x {height} x {width})"
        shapes = ((height, width), (1, height, width))
    else:
        expected = f"expected {channels} x {height} x {width} values in [0, 1] ({channels} channels of {height} x {width})"
        shapes = ((channels, height, width),)
    if value is None:
        raise RequestError(field, f"missing; {expected}")
    if not isinstance(value, list):
        raise RequestError(field, f"a JSON {type(value).__name__}; {expected}")
    try:
        cells = np.array(value, dtype=object)
    except ValueError:  # numpy refuses some ragged nestings outright
        cells = None
    if cells is None or cells.shape not in shapes:
        shape_text = " x ".join(map(str, cells.shape)) if cells is not None and cells.ndim > 0 else "not rectangular"
        raise RequestError(field, f"shape {shape_text}; {expected}")

    def where(k: int) -> str:
        channel, rest = divmod(k, height * width)
        row, col = divmod(rest, width)
        return f"row {row}, column {col}" if channels == 1 else f"channel {channel}, row {row}, column {col}"

    flat = cells.reshape(-1)
    for k, cell in enumerate(flat):
        if not is_number(cell):
            raise RequestError(field, f"{json.dumps(cell)} at {where(k)}; {expected}")
    pixels = flat.astype(np.float64).reshape(shape)
    bad = np.flatnonzero(~((pixels >= 0.0) & (pixels <= 1.0)))  # NaN and infinities included
    if len(bad):
        raise RequestError(field, f"{json.dumps(flat[bad[0]])} at {where(int(bad[0]))}; {expected}")
    return pixels.astype(np.float32)


def grey_image(value, field: str = "image") -> np.ndarray:
    """A SIDE x SIDE (or 1 x SIDE x SIDE) nested list of numbers in [0, 1] as float32 (1, SIDE, SIDE)."""
    return pixel_image(value, (1, SIDE, SIDE), field)


def analyze_request(payload: dict) -> dict:
    """The checked arguments of one analyze: image (1, 28, 28) float32, patch, stride, fill."""
    check_fields(payload, ANALYZE_FIELDS)
    return {"image": grey_image(payload.get("image")), "patch": whole_number(payload, "patch", 1, SIDE),
            "stride": whole_number(payload, "stride", 1, SIDE), "fill": grey_value(payload, "fill")}


def positions(shape: tuple[int, int, int], patch: int, stride: int) -> int:
    """Occlusion positions of a square patch moved by `stride` over an image of `shape` (C, H, W)."""
    return ((shape[1] - patch) // stride + 1) * ((shape[2] - patch) // stride + 1)


def check_work(shape: tuple[int, int, int], patch: int, stride: int) -> None:
    """Refuse (413) an analysis of more than MAX_WORK positions x pixel values: it would hold the model for
    every other client."""
    values = shape[0] * shape[1] * shape[2]
    work = positions(shape, patch, stride) * values
    if work > MAX_WORK:
        fits = next((s for s in range(stride, min(shape[1:]) + 1) if positions(shape, patch, s) * values <= MAX_WORK), None)
        hint = f"a stride of {fits} or more" if fits else "a smaller image"
        raise RequestError("stride", f"{stride} with patch {patch} on a {' x '.join(map(str, shape))} image is "
                           f"{positions(shape, patch, stride)} positions x {values} values = {work:.2g}, over the "
                           f"limit of {MAX_WORK:.0g} for one request; expected {hint}", 413)


def model_defaults(shape: tuple[int, int, int]) -> dict:
    """The optional fields of POST /api/analyze for a model of input `shape` (C, H, W): the digit page's
    8-pixel patch (the shorter side when smaller), stride 1 (or the smallest within MAX_WORK), a black fill."""
    patch = min(ANALYZE_DEFAULTS["patch"], *shape[1:])
    values = shape[0] * shape[1] * shape[2]
    stride = next((s for s in range(1, min(shape[1:]) + 1) if positions(shape, patch, s) * values <= MAX_WORK),
                  min(shape[1:]))
    return {"patch": patch, "stride": stride, "fill": 0.0}


def channel_fill(payload: dict, channels: int) -> tuple[float, ...]:
    """payload["fill"]: one value in [0, 1] for every channel, or a list of one per channel."""
    value = payload.get("fill", 0.0)
    expected = f"expected a value from 0 (black) to 1 (white), or a list of {channels} such values, one per channel"
    values = value if isinstance(value, list) and len(value) == channels else [value]
    if not all(is_number(v) and 0.0 <= v <= 1.0 for v in values):  # NaN fails the range test too
        raise RequestError("fill", f"{json.dumps(value) if not is_number(value) or not math.isfinite(value) else value}; "
                           f"{expected}")
    return tuple(float(v) for v in values)


def model_analyze_request(payload: dict, shape: tuple[int, int, int]) -> dict:
    """The checked arguments of one analyze on a model of input `shape` (C, H, W): image (C, H, W) float32,
    patch and stride (1 to the shorter side), fill (one value or one per channel)."""
    check_fields(payload, ANALYZE_FIELDS)
    defaults, side = model_defaults(shape), min(shape[1:])
    patch = whole_number(payload, "patch", 1, side, defaults)
    stride = whole_number(payload, "stride", 1, side, defaults)
    check_work(shape, patch, stride)  # before the image is parsed: the cheap refusal first
    return {"image": pixel_image(payload.get("image"), shape), "patch": patch, "stride": stride,
            "fill": channel_fill(payload, shape[0])}


def body_limit(shape: tuple[int, int, int]) -> int:
    """Bytes a request body may have for images of `shape`: 2 MiB, or 32 bytes a pixel value when that is more."""
    return max(MAX_BODY_BYTES, 32 * shape[0] * shape[1] * shape[2])


def image_index(query: dict, count: int) -> int:
    """The `index` query parameter of GET /api/test-image, a whole number from 0 to count - 1."""
    check_fields(query, ("index",))
    text = query.get("index", "")
    if not (text.isascii() and text.isdigit()) or int(text) >= count:
        raise RequestError("index", f"{text!r}; expected a whole number from 0 to {count - 1}")
    return int(text)
