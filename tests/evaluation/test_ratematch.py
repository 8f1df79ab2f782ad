"""Rate matching lands on the target: within ±3 % for codecs with a fine knob, on the nearest
quality step for codecs with an integer knob (their granularity), flagged when out of reach."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from salicodec.baselines import make_codec
from salicodec.evaluation.ratematch import RateMatcher

DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"
TARGETS = [0.37, 1.0]


@pytest.fixture(scope="module")
def images():
    with Image.open(DATA) as img:
        rgb = np.asarray(img.convert("RGB"))
    return [rgb[96:288, 128:384].copy(), rgb[300:492, 200:456].copy()]  # face; lower body


def _matcher(name, rgb):
    codec = make_codec(name)
    return RateMatcher(lambda v: codec.encode(rgb, v), codec.parameter, rgb.shape[0] * rgb.shape[1])


@pytest.mark.parametrize("name", ["jxl", "jpeg2000", "webp", "jpeg-420"])
def test_within_3_percent(name, images):
    for rgb in images:
        m = _matcher(name, rgb)
        for target in TARGETS:
            got = m.match(target)
            assert got.reachable
            assert abs(got.bpp / target - 1) <= 0.03, (name, target, got.bpp, got.value)
            assert got.bpp == 8 * len(got.data) / (rgb.shape[0] * rgb.shape[1])


@pytest.mark.parametrize("name", ["heic", "avif", "mozjpeg"])
def test_integer_knob_lands_on_the_nearest_step(name, images):
    rgb = images[0]
    m = _matcher(name, rgb)
    for target in TARGETS:
        got = m.match(target)
        err = abs(math.log(got.bpp / target))
        for neighbour in (got.value - 1, got.value + 1):
            if m.parameter.low <= neighbour <= m.parameter.high:
                assert err <= abs(math.log(m.bpp(neighbour) / target)) + 1e-12, (name, target, got.value)


def test_unreachable_target_is_flagged(images):
    got = _matcher("jpeg-420", images[0]).match(0.01)  # below JPEG's quality-1 file
    assert not got.reachable and got.value == 1
