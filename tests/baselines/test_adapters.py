"""Every standard codec adapter writes a real file of its format and decodes it back."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from salicodec.baselines import STANDARD_CODECS, CodecUnavailable, expand_codec_list, make_codec
from salicodec.errors import SalicodecError
from salicodec.metrics import psnr_rgb

DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"

# What each format's file starts with (ISO-BMFF formats: the brand after 'ftyp').
MAGIC = {
    "jpeg-420": lambda d: d[:3] == b"\xff\xd8\xff",
    "jpeg-444": lambda d: d[:3] == b"\xff\xd8\xff",
    "mozjpeg": lambda d: d[:3] == b"\xff\xd8\xff",
    "jpeg2000": lambda d: d[:4] == b"\xff\x4f\xff\x51",
    "heic": lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"heic", b"heix", b"mif1"),
    "avif": lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"avif", b"mif1"),
    "jxl": lambda d: d[:2] == b"\xff\x0a" or d[4:8] == b"JXL ",
    "webp": lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
}
MID = {"quality": 50, "requested_bpp": 1.0, "distance": 2.0}


@pytest.fixture(scope="module")
def rgb():
    with Image.open(DATA) as img:
        return np.asarray(img.convert("RGB"))[96:288, 128:384].copy()  # 256 x 192, a face


@pytest.mark.parametrize("name", STANDARD_CODECS)
def test_round_trip(name, rgb):
    codec = make_codec(name)
    try:
        codec.check_available()
    except CodecUnavailable as e:
        pytest.skip(str(e))
    data = codec.encode(rgb, MID[codec.parameter.name])
    assert MAGIC[name](data), data[:16]
    out = codec.decode(data)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert 25.0 < psnr_rgb(rgb, out) < 60.0  # lossy, but a faithful picture
    assert codec.library_version() and codec.settings


def test_more_bits_in_the_direction_the_parameter_says(rgb):
    for name in STANDARD_CODECS:
        codec = make_codec(name)
        p = codec.parameter
        a, b = (p.low + (p.high - p.low) * 0.2, p.low + (p.high - p.low) * 0.6)
        if p.log_scale:
            a, b = p.low * (p.high / p.low) ** 0.3, p.low * (p.high / p.low) ** 0.6
        small, large = len(codec.encode(rgb, a)), len(codec.encode(rgb, b))
        assert (large > small) == p.more_bits_when_higher, name


def test_codec_lists():
    assert expand_codec_list("standard") == STANDARD_CODECS
    assert expand_codec_list("heic,jxl,heic") == ["heic", "jxl"]
    assert expand_codec_list("all")[-1] == "ours"
    with pytest.raises(SalicodecError, match="unknown codec"):
        expand_codec_list("bpg")


def test_unknown_model_of_ours_is_unavailable_not_a_crash():
    with pytest.raises(CodecUnavailable):
        make_codec("ours:no-such-model").check_available()


def test_ours_is_the_family_and_ours_name_any_shipped_model():
    """`ours` is one point per current member; `ours:NAME` also takes a superseded model, so
    that the rows it made can be measured again."""
    from salicodec.models import zoo

    family = [m.name for m in zoo.list_models()]
    assert [p.setting for p in make_codec("ours").rate_points()] == sorted(
        family, key=lambda n: zoo.model_info(n).target_bpp)
    old = next((m for m in zoo.list_models(include_superseded=True) if m.superseded_by), None)
    if old is None:
        pytest.skip("no superseded model ships")
    entry = make_codec(f"ours:{old.name}")
    entry.check_available()
    assert [(p.setting, p.nominal_bpp) for p in entry.rate_points()] == [(old.name, old.target_bpp)]
