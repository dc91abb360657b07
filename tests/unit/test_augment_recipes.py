"""Augmentation recipes and ops, pure: validation that lists what is valid, seeded determinism,
and what each op does to real pixels."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.builders import image_bytes
from workbench.augment import OPS, Recipe, augment_copies, augment_pixels, decode, describe, encode
from workbench.errors import AugmentError

EXAMPLE = {"hflip": 0.5, "rotate": 15, "color_jitter": 0.2, "random_resized_crop": {"scale": [0.7, 1.0]},
           "blur": 0.3, "grayscale": 0.2, "cutout": 0.5}  # fmt: skip
SOURCE = "ab" * 32


def gradient(width: int = 40, height: int = 30) -> np.ndarray:
    """A BGR image whose every pixel differs from its mirror images (so flips are visible)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 6 % 256, y * 8 % 256, (x * y) % 256], axis=-1).astype(np.uint8)


def hashes(data: bytes, fmt: str, recipe: dict, seed: int, copies: int = 3) -> list[str]:
    made = augment_copies(data, SOURCE, fmt, Recipe.parse(recipe), seed, range(copies))
    return [hashlib.sha256(m.data).hexdigest() for m in made]


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"flip": 0.5}, "unknown augmentation op 'flip'; valid ops: random_resized_crop, hflip, vflip"),
        ({"rotate": "15"}, "rotate takes a number, true or an object"),
        ({"rotate": {"angle": 3}}, "rotate has no parameter 'angle'. rotate: .* Parameters: degrees"),
        ({"rotate": 400}, r"rotate.degrees must be in \[0, 180\]; got 400"),
        ({"hflip": 1.5}, r"hflip.p must be in \[0, 1\]"),
        ({"hflip": True, "vflip": {"p": True}}, "vflip.p must be a number"),
        ({"random_resized_crop": {"scale": [0.9, 0.2]}}, "scale must be \\[lo, hi\\] with lo <= hi"),
        ({"random_resized_crop": {"scale": [0.5, 1], "ratio": [1]}}, "ratio must be \\[lo, hi\\]"),
        ({"cutout": {"count": 2.5}}, "cutout.count must be an integer"),
        ({"rotate": {"border": "wrap"}}, "rotate.border must be one of constant, reflect, replicate"),
        ({"blur": {"sigma": [0.1, float("nan")]}}, "blur.sigma must be a number"),
        ({}, "the recipe has no ops"),
        ({"hflip": None, "blur": False}, "the recipe has no ops"),
        ([], "a recipe is a JSON object"),
        ("{not json", "the recipe is not valid JSON"),
    ],
)
def test_a_bad_recipe_says_what_is_valid(recipe: object, message: str) -> None:
    with pytest.raises(AugmentError, match=message):
        Recipe.parse(recipe)  # type: ignore[arg-type]


def test_a_recipe_is_normalised_with_defaults_in_application_order() -> None:
    parsed = Recipe.parse(json.dumps({"rotate": 10, "hflip": True, "random_resized_crop": 0.5}))
    assert list(parsed.ops) == ["random_resized_crop", "hflip", "rotate"]
    assert parsed.ops["random_resized_crop"]["scale"] == [0.5, 1.0]
    assert parsed.ops["hflip"] == {"p": 0.5}
    assert parsed.ops["rotate"] == {"degrees": 10.0, "p": 1.0, "border": "constant"}
    jitter = Recipe.parse({"color_jitter": 0.3}).ops["color_jitter"]
    assert (jitter["brightness"], jitter["contrast"], jitter["saturation"], jitter["hue"]) == (
        0.3,
        0.3,
        0.3,
        0,
    )
    reordered = Recipe.parse(dict(reversed(list(EXAMPLE.items()))))
    assert reordered == Recipe.parse(EXAMPLE) and reordered.digest == Recipe.parse(EXAMPLE).digest
    assert Recipe.parse(parsed.to_dict()) == parsed  # the stored form parses to itself
    assert all(name in describe() for name in OPS)


# -- determinism -----------------------------------------------------------------------------------
def test_the_same_recipe_seed_and_source_give_the_same_bytes_another_seed_others() -> None:
    data = image_bytes(3, size=(48, 40), fmt="JPEG")
    first = hashes(data, "JPEG", EXAMPLE, seed=7)
    assert hashes(data, "JPEG", EXAMPLE, seed=7) == first
    assert len(set(first)) == 3  # each copy differs
    assert set(hashes(data, "JPEG", EXAMPLE, seed=8)).isdisjoint(first)


def test_another_process_makes_the_same_bytes() -> None:
    data = image_bytes(4, size=(50, 50), fmt="PNG")
    script = (
        "import sys, json, hashlib\n"
        "from workbench.augment import Recipe, augment_copies\n"
        "data = sys.stdin.buffer.read()\n"
        f"recipe = Recipe.parse({json.dumps(EXAMPLE)!r})\n"
        f"made = augment_copies(data, {SOURCE!r}, 'PNG', recipe, 11, range(3))\n"
        "print(json.dumps([hashlib.sha256(m.data).hexdigest() for m in made]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, check=True)
    assert json.loads(done.stdout) == hashes(data, "PNG", EXAMPLE, seed=11)


def test_changing_one_op_leaves_the_other_ops_draws_alone() -> None:
    pixels = gradient()
    flips = [augment_pixels(pixels, Recipe.parse({"hflip": 0.5}), 1, SOURCE, c) for c in range(16)]
    both = [
        augment_pixels(pixels, Recipe.parse({"hflip": 0.5, "vflip": 0.5}), 1, SOURCE, c) for c in range(16)
    ]
    assert 0 < sum(not np.array_equal(f, pixels) for f in flips) < 16
    # adding vflip flips some copies upside down; the left-right flips stay where they were
    assert all(np.array_equal(b, f) or np.array_equal(b, f[::-1]) for f, b in zip(flips, both, strict=True))
    assert any(np.array_equal(b, f[::-1]) for f, b in zip(flips, both, strict=True))


def test_two_copies_with_the_same_pixels_are_still_two_files() -> None:
    data = image_bytes(5, fmt="PNG")
    made = augment_copies(data, SOURCE, "PNG", Recipe.parse({"hflip": 1.0}), 0, range(2))
    assert np.array_equal(decode(made[0].data), decode(made[1].data))
    assert made[0].data != made[1].data  # the note in the file names the copy
    assert f"source {SOURCE} copy 1".encode() in made[1].data


# -- what the ops do ---------------------------------------------------------------------------------
def test_flips_move_whole_pixels() -> None:
    pixels = gradient()
    assert np.array_equal(augment_pixels(pixels, Recipe.parse({"hflip": 1.0}), 0, SOURCE, 0), pixels[:, ::-1])
    assert np.array_equal(augment_pixels(pixels, Recipe.parse({"vflip": 1.0}), 0, SOURCE, 0), pixels[::-1])
    assert np.array_equal(
        augment_pixels(pixels, Recipe.parse({"hflip": 0.0, "vflip": 1e-9}), 0, SOURCE, 0), pixels
    )


def test_rotation_and_crop_resample_and_keep_the_size() -> None:
    pixels = gradient()
    rotated = augment_pixels(pixels, Recipe.parse({"rotate": {"degrees": 30}}), 0, SOURCE, 0)
    cropped = augment_pixels(pixels, Recipe.parse({"random_resized_crop": [0.2, 0.3]}), 0, SOURCE, 0)
    for out in (rotated, cropped):
        assert out.shape == pixels.shape and not np.array_equal(out, pixels)
    assert (rotated[0, 0] == 0).all()  # a corner rotated in from outside the image: the fill
    reflected = augment_pixels(
        pixels, Recipe.parse({"rotate": {"degrees": 30, "border": "reflect"}}), 0, SOURCE, 0
    )
    assert (reflected[0, 0] != 0).any()


def test_grayscale_gives_three_equal_channels_and_grey_sources_stay_grey() -> None:
    grey = augment_pixels(gradient(), Recipe.parse({"grayscale": 1.0}), 0, SOURCE, 0)
    assert (
        grey.shape == (30, 40, 3)
        and (grey[..., 0] == grey[..., 1]).all()
        and (grey[..., 1] == grey[..., 2]).all()
    )
    single = gradient()[..., 0]
    out = augment_pixels(single, Recipe.parse({"color_jitter": 0.5, "grayscale": 1.0}), 0, SOURCE, 0)
    assert out.ndim == 2 and not np.array_equal(out, single)


def test_the_colour_matrix_is_applied_in_exact_fixed_point() -> None:
    # What makes colour reproducible across processors: OpenCV's 8-bit transform works in 10-bit
    # fixed point. If an OpenCV upgrade moved it to floating point, this would show it.
    pixels = np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    matrix = np.array([[1.9, -0.4, 0.3, -80.0], [0.2, 1.7, -0.6, 40.5], [-0.5, 0.9, 1.2, 120.25]], np.float32)
    exact = pixels.astype(np.int64) @ np.round(matrix[:, :3] * 1024).astype(np.int64).T
    exact = np.clip((exact + np.round(matrix[:, 3] * 1024).astype(np.int64) + 512) >> 10, 0, 255)
    assert np.array_equal(cv2.transform(pixels, matrix), exact)


def test_cutout_blanks_squares_and_blur_smooths() -> None:
    pixels = gradient(64, 64)
    cut = augment_pixels(pixels, Recipe.parse({"cutout": {"p": 1, "size": 0.25, "fill": 7}}), 0, SOURCE, 0)
    assert (cut == 7).all(axis=-1).sum() >= 16 * 16 and (pixels != 7).any()
    blurred = augment_pixels(pixels, Recipe.parse({"blur": {"p": 1, "sigma": [2, 2]}}), 0, SOURCE, 0)
    assert (
        np.abs(np.diff(blurred.astype(int), axis=1)).mean()
        < np.abs(np.diff(pixels.astype(int), axis=1)).mean()
    )
    assert not np.shares_memory(cut, pixels)


KINDS = [("RGBA", "PNG", "PNG"), ("P", "GIF", "PNG"), ("L", "JPEG", "JPEG"), ("RGB", "WEBP", "PNG"),
         ("I;16", "PNG", "PNG")]  # fmt: skip


@pytest.mark.parametrize(("mode", "fmt", "out"), KINDS)
def test_sources_of_every_ingestable_kind_are_augmented(mode: str, fmt: str, out: str) -> None:
    image = Image.fromarray(gradient()).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":  # 16-bit grey, as scanners write
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 200)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    made = augment_copies(buffer.getvalue(), SOURCE, fmt, Recipe.parse(EXAMPLE), 0, range(1))[0]
    assert (made.format, made.width, made.height) == (out, 40, 30)
    assert Image.open(io.BytesIO(made.data)).format == out


def test_an_undecodable_source_is_an_augment_error() -> None:
    with pytest.raises(AugmentError, match="cannot decode"):
        decode(b"definitely not an image")


def test_encode_writes_valid_files_with_the_note() -> None:
    pixels = gradient()
    jpeg = encode(pixels, "JPEG", "hello")
    assert Image.open(io.BytesIO(jpeg)).app["COM"] == b"hello"
    png = Image.open(io.BytesIO(encode(pixels, "PNG", "hello")))
    png.load()
    assert png.text == {"Comment": "hello"} and np.array_equal(np.asarray(png)[..., ::-1], pixels)
