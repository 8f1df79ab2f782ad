"""The .sali file format (docs/FORMAT.md): a fixed header, a list of sections, two CRC32s.

Layout, all integers little-endian:

    offset size  field
    0      4     magic b"SALI"
    4      1     format version (1)
    5      1     flags: bit 0 = decode to greyscale; other bits must be 0
    6      4     width  (uint32, 1..MAX_SIDE)
    10     4     height (uint32, 1..MAX_SIDE), width * height <= MAX_PIXELS
    14     1     n = length of the model name (1..64)
    15     n     model name, ASCII [a-z0-9._-]
    15+n   8     first 8 bytes of the sha256 of the model's weights
    23+n   1     number of sections S (1..MAX_SECTIONS)
    24+n   4*S   section lengths (uint32)
    ...    4     CRC32 of all header bytes before it
    ...          the sections, back to back (their lengths must add up to what is left exactly)
    end-4  4     CRC32 of the sections' bytes

The parser checks every field before it allocates anything and never trusts a length it has not
compared with the bytes actually present.
"""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field

from .errors import FormatError

MAGIC = b"SALI"
FORMAT_VERSION = 1
MAX_SIDE = 1 << 15  # 32768
MAX_PIXELS = 1 << 26  # 64 megapixels
MAX_SECTIONS = 16
FLAG_GREYSCALE = 0x01
_NAME_RE = re.compile(rb"^[a-z0-9._-]{1,64}$")


@dataclass
class SaliFile:
    width: int
    height: int
    model: str
    weights_hash: bytes  # 8 bytes
    sections: list[bytes] = field(default_factory=list)
    greyscale: bool = False
    version: int = FORMAT_VERSION

    @property
    def header_size(self) -> int:
        return 4 + 1 + 1 + 4 + 4 + 1 + len(self.model) + 8 + 1 + 4 * len(self.sections) + 4


def check_dimensions(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} outside 1..{MAX_SIDE} per side")
    if width * height > MAX_PIXELS:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,}")


def pack(f: SaliFile) -> bytes:
    check_dimensions(f.width, f.height)
    name = f.model.encode("ascii")
    if not _NAME_RE.match(name):
        raise FormatError(f"invalid model name {f.model!r}")
    if len(f.weights_hash) != 8:
        raise FormatError("weights hash must be 8 bytes")
    if not 1 <= len(f.sections) <= MAX_SECTIONS:
        raise FormatError("bad number of sections")
    header = bytearray()
    header += MAGIC
    header += struct.pack("<BB", FORMAT_VERSION, FLAG_GREYSCALE if f.greyscale else 0)
    header += struct.pack("<II", f.width, f.height)
    header += struct.pack("<B", len(name)) + name
    header += f.weights_hash
    header += struct.pack("<B", len(f.sections))
    header += b"".join(struct.pack("<I", len(s)) for s in f.sections)
    header += struct.pack("<I", zlib.crc32(header))
    payload = b"".join(f.sections)
    return bytes(header) + payload + struct.pack("<I", zlib.crc32(payload))


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated file: {what} missing")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b


def unpack(data: bytes) -> SaliFile:
    """Parse and validate a .sali file; raise FormatError with a one-line reason otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError("expected bytes")
    data = bytes(data)
    r = _Reader(data)
    if r.take(4, "magic") != MAGIC:
        raise FormatError("not a salicodec file (bad magic)")
    version, flags = struct.unpack("<BB", r.take(2, "version"))
    if version != FORMAT_VERSION:
        raise FormatError(f"unsupported format version {version} (this salicodec reads {FORMAT_VERSION})")
    if flags & ~FLAG_GREYSCALE:
        raise FormatError(f"unknown flags 0x{flags:02x}")
    width, height = struct.unpack("<II", r.take(8, "dimensions"))
    (name_len,) = struct.unpack("<B", r.take(1, "model name length"))
    name = r.take(name_len, "model name")
    weights_hash = r.take(8, "weights hash")
    (n_sections,) = struct.unpack("<B", r.take(1, "section count"))
    if not 1 <= n_sections <= MAX_SECTIONS:
        raise FormatError(f"bad section count {n_sections}")
    lengths = struct.unpack(f"<{n_sections}I", r.take(4 * n_sections, "section lengths"))
    header_end = r.pos
    (header_crc,) = struct.unpack("<I", r.take(4, "header CRC"))
    if zlib.crc32(data[:header_end]) != header_crc:
        raise FormatError("corrupt header (CRC mismatch)")
    # Checked after the CRC so that a damaged header is reported as damage, not as nonsense.
    if not _NAME_RE.match(name):
        raise FormatError("invalid model name in header")
    check_dimensions(width, height)
    payload_len = len(data) - r.pos - 4
    if payload_len < 0 or sum(lengths) != payload_len:
        raise FormatError("truncated or padded file: section lengths do not match the file size")
    payload = data[r.pos : r.pos + payload_len]
    (payload_crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(payload) != payload_crc:
        raise FormatError("corrupt data (payload CRC mismatch)")
    sections, pos = [], 0
    for n in lengths:
        sections.append(payload[pos : pos + n])
        pos += n
    return SaliFile(width, height, name.decode("ascii"), weights_hash, sections,
                    greyscale=bool(flags & FLAG_GREYSCALE), version=version)


def looks_like_sali(prefix: bytes) -> bool:
    return prefix[:4] == MAGIC
