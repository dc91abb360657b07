"""Augmentation recipes: JSON data in, the same augmented bytes out for the same recipe, seed and source.

A recipe names ops from a registry, each with typed, validated parameters::

    {"hflip": 0.5, "rotate": 15, "color_jitter": 0.2, "random_resized_crop": {"scale": [0.7, 1.0]}}

A bare value sets the op's main parameter (``describe()`` lists them); ``true`` means its defaults.
Ops run in one fixed order whatever the key order (Postgres' JSONB does not keep it): the geometric
ops fused into one affine warp (one resampling), the colour ops into one fixed-point colour
matrix, then blur, then cutout. Every random draw is a hash of (seed, source sha256, copy, op),
never global state: a copy is the same bytes on every run and worker, and changing one op leaves
the other ops' draws alone, so a preview can be tuned op by op. OpenCV does the pixel work, in
integer or fixed-point arithmetic throughout (docs/decisions.md #23). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from workbench.errors import AugmentError

cv2.setNumThreads(0)  # parallel across images (a process pool), never inside one: no fork-unsafe pool
JPEG_QUALITY = 95  # fixed encoder settings: part of what makes the bytes reproducible
PNG_COMPRESSION = 1  # zlib level: derived images are cheap to remake, so favour speed over size


# -- parameters and ops ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One typed parameter: ``probability``, ``number``, ``range`` ([lo, hi]), ``integer`` or ``choice``."""

    name: str
    kind: str
    default: Any
    low: float = 0.0
    high: float = 1.0
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} (one of {', '.join(self.choices)}; default {self.default})"
        what = {"probability": "probability in", "range": "[lo, hi] within", "integer": "integer in"}
        return f"{self.name} ({what.get(self.kind, 'number in')} {_bounds(self)}; default {self.default})"

    def coerce(self, op: str, value: Any) -> Any:
        where = f"{op}.{self.name}"
        if self.kind == "choice":
            if value not in self.choices:
                raise AugmentError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        if self.kind == "range":
            if not (isinstance(value, list | tuple) and len(value) == 2):
                raise AugmentError(f"{where} must be [lo, hi] within {_bounds(self)}; got {value!r}")
            low, high = (self._number(where, v) for v in value)
            if low > high:
                raise AugmentError(f"{where} must be [lo, hi] with lo <= hi; got {value!r}")
            return [low, high]
        number = self._number(where, value)
        if self.kind == "integer":
            if not float(number).is_integer():
                raise AugmentError(f"{where} must be an integer in {_bounds(self)}; got {value!r}")
            return int(number)
        return number

    def _number(self, where: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise AugmentError(f"{where} must be a number in {_bounds(self)}; got {value!r}")
        if not self.low <= value <= self.high:
            raise AugmentError(f"{where} must be in {_bounds(self)}; got {value!r}")
        return float(value)


def _bounds(param: Param) -> str:
    return f"[{param.low:g}, {param.high:g}]"


@dataclass(frozen=True)
class Op:
    name: str
    summary: str
    params: tuple[Param, ...]
    shorthand: tuple[str, ...]  # the parameters a bare number sets

    def parse(self, value: Any) -> dict[str, Any]:
        """The op's full parameters (defaults filled in) from a bare value, ``true`` or an object."""
        given: dict[str, Any]
        if value is True:
            given = {}
        elif isinstance(value, dict):
            given = value
        elif isinstance(value, int | float | list) and not isinstance(value, bool):
            given = dict.fromkeys(self.shorthand, value)
            first = self.param(self.shorthand[0])
            if first.kind == "range" and not isinstance(value, list):  # a bare low end: [x, high]
                given = {self.shorthand[0]: [value, first.high]}
        else:
            raise AugmentError(
                f"{self.name} takes a number, true or an object; got {value!r}. {self.usage()}"
            )
        unknown = sorted(set(given) - {p.name for p in self.params})
        if unknown:
            raise AugmentError(f"{self.name} has no parameter {unknown[0]!r}. {self.usage()}")
        return {
            p.name: p.coerce(self.name, given[p.name]) if p.name in given else p.default for p in self.params
        }

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def usage(self) -> str:
        bare = " and ".join(self.shorthand)
        parameters = "; ".join(p.describe() for p in self.params)
        return f"{self.name}: {self.summary}; a bare number sets {bare}. Parameters: {parameters}"


def _p(default: float) -> Param:
    return Param("p", "probability", default)


# The registry, in the order ops are applied: one place to add an op (and its step below).
OPS: dict[str, Op] = {op.name: op for op in (
    Op("random_resized_crop", "crop a random area and aspect ratio, scaled back to the image's size",
       (Param("scale", "range", [0.08, 1.0], 0.01, 1.0), Param("ratio", "range", [0.75, 1.3333], 0.1, 10.0),
        _p(1.0)), ("scale",)),
    Op("hflip", "mirror left to right", (_p(0.5),), ("p",)),
    Op("vflip", "mirror top to bottom", (_p(0.5),), ("p",)),
    Op("rotate", "rotate by a random angle in [-degrees, degrees] about the centre",
       (Param("degrees", "number", 15.0, 0.0, 180.0), _p(1.0),
        Param("border", "choice", "constant", choices=("constant", "reflect", "replicate"))), ("degrees",)),
    Op("color_jitter", "scale brightness, contrast and saturation by 1 ± x and shift hue by ± x turns",
       (Param("brightness", "number", 0.0, 0.0, 1.0), Param("contrast", "number", 0.0, 0.0, 1.0),
        Param("saturation", "number", 0.0, 0.0, 1.0), Param("hue", "number", 0.0, 0.0, 0.5), _p(1.0)),
       ("brightness", "contrast", "saturation")),
    Op("grayscale", "turn grey (three equal channels)", (_p(0.2),), ("p",)),
    Op("blur", "Gaussian blur with a random sigma (pixels)",
       (Param("sigma", "range", [0.1, 2.0], 0.01, 20.0), _p(0.5)), ("p",)),
    Op("cutout", "blank `count` squares of `size` x the shorter side",
       (Param("size", "number", 0.25, 0.01, 1.0), Param("count", "integer", 1, 1, 16),
        Param("fill", "integer", 0, 0, 255), _p(0.5)), ("p",)),
)}  # fmt: skip


def describe() -> str:
    """Every op with its parameters: what an error about a recipe lists."""
    return "\n".join(op.usage() for op in OPS.values())


# -- recipes --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """A validated recipe: op name -> full parameters, in application order."""

    ops: dict[str, dict[str, Any]]

    @classmethod
    def parse(cls, recipe: Recipe | dict[str, Any] | str) -> Recipe:
        if isinstance(recipe, Recipe):
            return recipe
        if isinstance(recipe, str):
            try:
                recipe = json.loads(recipe)
            except json.JSONDecodeError as exc:
                raise AugmentError(f"the recipe is not valid JSON ({exc}); e.g. {_EXAMPLE}") from exc
        if not isinstance(recipe, dict):
            raise AugmentError(f"a recipe is a JSON object like {_EXAMPLE}; got {type(recipe).__name__}")
        unknown = [name for name in recipe if name not in OPS]
        if unknown:
            raise AugmentError(f"unknown augmentation op {unknown[0]!r}; valid ops: {', '.join(OPS)}")
        # null or false leaves an op out, so a recipe can switch one off without deleting it
        ops = {name: op.parse(recipe[name]) for name, op in OPS.items() if recipe.get(name) not in _OFF}
        if not ops:
            raise AugmentError(
                f"the recipe has no ops, so it would change nothing; valid ops: {', '.join(OPS)}"
            )
        return cls(ops)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dict(params) for name, params in self.ops.items()}

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.ops, sort_keys=True).encode()).hexdigest()


_OFF = (None, False)  # compared by equality: 0 counts as off too, which is what it would do anyway
_EXAMPLE = '{"hflip": 0.5, "rotate": 15, "color_jitter": 0.2}'


class Draws:
    """Uniform numbers from blake2b of (seed, source, copy, op, block): defined here, so no library
    or Python release can change them, and one op's draws never depend on another's."""

    def __init__(self, seed: int, source: str, copy: int, op: str) -> None:
        self._name = f"{seed}\0{source}\0{copy}\0{op}\0".encode()
        self._words: list[int] = []
        self._blocks = 0

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        if not self._words:  # one hash gives eight draws: most ops need fewer
            block = hashlib.blake2b(self._name + self._blocks.to_bytes(4, "little"), digest_size=64).digest()
            self._words = list(struct.unpack("<8Q", block))[::-1]
            self._blocks += 1
        return low + (high - low) * ((self._words.pop() >> 11) * 2.0**-53)

    def chance(self, p: float) -> bool:
        return self.uniform() < p


# -- applying a recipe ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Augmented:
    data: bytes
    width: int
    height: int
    format: str  # "JPEG" or "PNG"


def augment_copies(
    data: bytes, source_sha256: str, source_format: str, recipe: Recipe, seed: int, copies: Iterable[int]
) -> list[Augmented]:
    """The given copies of one source image, decoded once; each is a pure function of its inputs."""
    pixels = decode(data)
    fmt = output_format(source_format)
    out = []
    note = f"workbench augment: recipe {recipe.digest[:16]} seed {seed} source {source_sha256} copy"
    for copy in copies:
        augmented = augment_pixels(pixels, recipe, seed, source_sha256, copy)
        height, width = augmented.shape[:2]
        out.append(Augmented(encode(augmented, fmt, f"{note} {copy}"), width, height, fmt))
    return out


def augment_pixels(pixels: np.ndarray, recipe: Recipe, seed: int, source: str, copy: int) -> np.ndarray:
    """One copy of decoded ``pixels`` (uint8, HxW or HxWx3 BGR); ``pixels`` itself is never changed."""
    ops = recipe.ops

    def draws(op: str) -> Draws:
        return Draws(seed, source, copy, op)

    out = _geometry(pixels, ops, draws)
    out = _colour(out, ops, draws)
    if "blur" in ops and min(out.shape[:2]) > 1:
        d, params = draws("blur"), ops["blur"]
        if d.chance(params["p"]):
            sigma = d.uniform(*params["sigma"])
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    if "cutout" in ops:
        out = _cutout(out.copy() if out is pixels else out, ops["cutout"], draws("cutout"))
    return out


_BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
}


def _geometry(pixels: np.ndarray, ops: dict[str, dict[str, Any]], draws: Any) -> np.ndarray:
    """Crop, flips and rotation as one inverse affine map from output to source pixel centres."""
    height, width = pixels.shape[:2]
    cx, cy, cw, ch = width / 2, height / 2, float(width), float(height)  # the crop box in the source
    cropped = False
    if "random_resized_crop" in ops:
        d, params = draws("random_resized_crop"), ops["random_resized_crop"]
        if d.chance(params["p"]):
            area = d.uniform(*params["scale"]) * width * height
            ratio = math.exp(d.uniform(*(math.log(r) for r in params["ratio"])))
            cw, ch = min(width, math.sqrt(area * ratio)), min(height, math.sqrt(area / ratio))
            cx, cy = d.uniform(cw / 2, width - cw / 2), d.uniform(ch / 2, height - ch / 2)
            cropped = True
    fx = -1.0 if "hflip" in ops and draws("hflip").chance(ops["hflip"]["p"]) else 1.0
    fy = -1.0 if "vflip" in ops and draws("vflip").chance(ops["vflip"]["p"]) else 1.0
    angle, border = 0.0, "constant"
    if "rotate" in ops:
        d, params = draws("rotate"), ops["rotate"]
        if d.chance(params["p"]):
            angle, border = math.radians(d.uniform(-params["degrees"], params["degrees"])), params["border"]
    if not cropped and angle == 0.0:  # flips alone move whole pixels: no resampling
        code = {(-1.0, 1.0): 1, (1.0, -1.0): 0, (-1.0, -1.0): -1}.get((fx, fy))
        return pixels if code is None else cv2.flip(pixels, code)
    cos, sin = math.cos(angle), math.sin(angle)
    sx, sy = fx * cw / width, fy * ch / height
    a, b, c, d_ = cos * sx, -sin * sy, sin * sx, cos * sy
    ux, uy = width / 2 - 0.5, height / 2 - 0.5  # output centre, in pixel-centre coordinates
    matrix = np.array([[a, b, cx - 0.5 - a * ux - b * uy], [c, d_, cy - 0.5 - c * ux - d_ * uy]])
    return cv2.warpAffine(
        pixels, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=_BORDERS[border], borderValue=0,
    )  # fmt: skip


_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights (R, G, B), as torchvision and OpenCV use


def _colour(pixels: np.ndarray, ops: dict[str, dict[str, Any]], draws: Any) -> np.ndarray:
    """Brightness, contrast, saturation, hue and greyscale as one colour matrix plus offset,
    applied once (one rounding) by OpenCV's fixed-point transform, or a lookup table for grey."""
    b = c = s = 1.0
    hue = 0.0
    if "color_jitter" in ops:
        d, params = draws("color_jitter"), ops["color_jitter"]
        if d.chance(params["p"]):
            b, c, s = (
                d.uniform(1 - params[k], 1 + params[k]) for k in ("brightness", "contrast", "saturation")
            )
            hue = d.uniform(-params["hue"], params["hue"])
    grey = "grayscale" in ops and draws("grayscale").chance(ops["grayscale"]["p"])
    single = pixels.ndim == 2
    if (b, c) == (1.0, 1.0) and (single or ((s, hue) == (1.0, 0.0) and not grey)):
        return pixels
    if single:  # contrast pulls towards the mean of the brightened image
        mean = b * cv2.sumElems(pixels)[0] / pixels.size  # an integer sum, exact in a double
        lut = [min(255, max(0, math.floor(c * b * v + (1 - c) * mean + 0.5))) for v in range(256)]
        return cv2.LUT(pixels, np.array(lut, dtype=np.uint8))
    luma = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    mean = b * cv2.sumElems(luma)[0] / luma.size
    matrix = _scaled(_matmul(_hue_matrix(hue), _saturation_matrix(s)), c * b)
    if grey:
        matrix = _matmul(_saturation_matrix(0.0), matrix)
    # Rows of the hue, saturation and grey matrices sum to 1, so the contrast offset is the same
    # for every channel. Reverse rows and columns for OpenCV's BGR order.
    bgr = [[matrix[2 - i][2 - j] for j in range(3)] + [(1 - c) * mean] for i in range(3)]
    return cv2.transform(pixels, np.array(bgr, dtype=np.float32))


def _saturation_matrix(s: float) -> list[list[float]]:
    return [[s * (i == j) + (1 - s) * _GREY[j] for j in range(3)] for i in range(3)]


def _hue_matrix(turns: float) -> list[list[float]]:
    """A rotation of hue about the grey axis (the linear hue-rotate of CSS filter effects)."""
    cos, sin = math.cos(turns * 2 * math.pi), math.sin(turns * 2 * math.pi)
    return [
        [
            0.213 + cos * 0.787 - sin * 0.213,
            0.715 - cos * 0.715 - sin * 0.715,
            0.072 - cos * 0.072 + sin * 0.928,
        ],
        [
            0.213 - cos * 0.213 + sin * 0.143,
            0.715 + cos * 0.285 + sin * 0.140,
            0.072 - cos * 0.072 - sin * 0.283,
        ],
        [
            0.213 - cos * 0.213 - sin * 0.787,
            0.715 - cos * 0.715 + sin * 0.715,
            0.072 + cos * 0.928 + sin * 0.072,
        ],
    ]


def _matmul(x: list[list[float]], y: list[list[float]]) -> list[list[float]]:
    # Plain Python on purpose: a BLAS 3x3 product may round differently on another processor.
    return [[sum(x[i][k] * y[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _scaled(x: list[list[float]], factor: float) -> list[list[float]]:
    return [[v * factor for v in row] for row in x]


def _cutout(pixels: np.ndarray, params: dict[str, Any], d: Draws) -> np.ndarray:
    if not d.chance(params["p"]):
        return pixels
    height, width = pixels.shape[:2]
    side = max(1, round(params["size"] * min(height, width)))
    for _ in range(params["count"]):
        x, y = int(d.uniform(0, width - side + 1)), int(d.uniform(0, height - side + 1))
        pixels[y : y + side, x : x + side] = params["fill"]
    return pixels


# -- decoding and encoding ------------------------------------------------------------------------
def decode(data: bytes) -> np.ndarray:
    """uint8 pixels: HxW for grey images, HxWx3 BGR otherwise (alpha dropped, EXIF orientation
    ignored as everywhere else in workbench). Pillow decodes what OpenCV cannot."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is not None:
        return pixels
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image.mode in ("1", "L", "I", "I;16", "F")
            array = np.asarray(image.convert("L" if grey else "RGB"))
    except OSError as exc:
        raise AugmentError(f"cannot decode the source image: {exc}") from exc
    return array if grey else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)


def output_format(source_format: str) -> str:
    """JPEG sources stay JPEG (a lossless copy of a lossy photo only grows); the rest become PNG."""
    return "JPEG" if source_format.upper() in ("JPEG", "JPG") else "PNG"


def encode(pixels: np.ndarray, fmt: str, note: str) -> bytes:
    """Encode with fixed settings and carry ``note`` in the file (a JPEG comment, a PNG tEXt
    chunk): it names the source and copy, so two copies are never the same file even when
    their pixels are."""
    if fmt == "JPEG":
        data = _encoded(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        comment = note.encode()
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    data = _encoded(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    body = b"Comment\0" + note.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    at = 8 + 25  # after the signature and IHDR, which must come first
    return data[:at] + chunk + data[at:]


def _encoded(extension: str, pixels: np.ndarray, options: list[int]) -> bytes:
    ok, buffer = cv2.imencode(extension, pixels, options)
    if not ok:
        raise AugmentError(f"OpenCV could not encode a {pixels.shape} image as {extension}")
    return buffer.tobytes()
