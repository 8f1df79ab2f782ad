import pytest

from salicodec import container
from salicodec.errors import FormatError


def sample() -> container.SaliFile:
    return container.SaliFile(768, 512, "tiny-test", b"\x01" * 8, [b"abcd", b"", b"12345678"])


def test_pack_unpack_roundtrip():
    f = sample()
    g = container.unpack(container.pack(f))
    assert (g.width, g.height, g.model, g.weights_hash, g.sections) == (768, 512, "tiny-test", b"\x01" * 8, f.sections)
    assert not g.greyscale


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"JUNK" + d[4:], "bad magic"),
    (lambda d: d[:4] + b"\x07" + d[5:], "unsupported format version 7"),
    (lambda d: d[:-6] + bytes([d[-6] ^ 0x10]) + d[-5:], "payload CRC"),
    (lambda d: d[:-1], "section lengths"),
    (lambda d: d + b"\x00", "section lengths"),
    (lambda d: d[:10], "truncated"),
    (lambda d: b"", "truncated"),
])
def test_rejects_bad_files(mutate, message):
    with pytest.raises(FormatError, match=message):
        container.unpack(mutate(container.pack(sample())))


def test_header_crc_catches_dimension_edit():
    d = bytearray(container.pack(sample()))
    d[6] ^= 0x01  # width
    with pytest.raises(FormatError, match="header"):
        container.unpack(bytes(d))


def test_dimension_limits():
    with pytest.raises(FormatError):
        container.pack(container.SaliFile(0, 5, "m", b"\0" * 8, [b""]))
    with pytest.raises(FormatError, match="exceeds"):
        container.pack(container.SaliFile(20000, 20000, "m", b"\0" * 8, [b""]))
