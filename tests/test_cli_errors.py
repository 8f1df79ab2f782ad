"""Bad input: one line on stderr, exit status 2, no traceback, no output file left behind."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from salicodec import api, cli, container
from tests.conftest import photo


@pytest.fixture(scope="module")
def valid_file(tiny_model) -> bytes:
    return api.compress(photo(48, 64), tiny_model, saliency="none")


def run_cli(capsys, argv) -> tuple[int, str]:
    rc = cli.main(argv)
    err = capsys.readouterr().err
    return rc, err


def assert_clean_failure(rc: int, err: str, out_path) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("salicodec: error: "), err
    assert "Traceback" not in err
    assert not out_path.exists()


def mutations(data: bytes, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = i % 5
        d = bytearray(data)
        if kind == 0:  # truncation
            d = d[: int(rng.integers(0, len(d)))]
        elif kind == 1:  # bit flips anywhere
            for _ in range(int(rng.integers(1, 9))):
                j = int(rng.integers(len(d)))
                d[j] ^= 1 << int(rng.integers(8))
        elif kind == 2:  # header edits
            j = int(rng.integers(0, min(40, len(d))))
            d[j] = (d[j] + int(rng.integers(1, 256))) % 256
        elif kind == 3:  # junk appended
            d += rng.integers(0, 256, int(rng.integers(1, 64))).astype(np.uint8).tobytes()
        else:  # a run of bytes overwritten
            j = int(rng.integers(len(d)))
            d[j : j + 16] = rng.integers(0, 256, len(d[j : j + 16])).astype(np.uint8).tobytes()
        yield bytes(d)


def test_mutated_files_rejected_cleanly(tmp_path, capsys, valid_file):
    src, out = tmp_path / "m.sali", tmp_path / "out.png"
    count = 0
    for d in mutations(valid_file, 1200):
        if d == valid_file:
            continue
        src.write_bytes(d)
        rc, err = run_cli(capsys, ["decompress", str(src), "-o", str(out)])
        assert_clean_failure(rc, err, out)
        count += 1
    assert count >= 1000


def test_info_on_mutated_files(tmp_path, capsys, valid_file):
    src = tmp_path / "m.sali"
    for d in mutations(valid_file, 200, seed=1):
        src.write_bytes(d)
        rc, err = run_cli(capsys, ["info", str(src)])
        assert rc == 2 and len(err.strip().splitlines()) == 1


def repack_with_valid_crcs(data: bytes, payload: bytes) -> bytes:
    """A hostile file: garbage payload with correct CRCs (so it passes the container checks)."""
    f = container.unpack(data)
    sizes = [len(s) for s in f.sections]
    chunks, pos = [], 0
    for n in sizes:
        chunks.append(payload[pos : pos + n])
        pos += n
    f.sections = chunks
    return container.pack(f)


def test_garbage_payload_with_valid_crc_never_hangs(tiny_model, valid_file):
    rng = np.random.default_rng(3)
    size = sum(len(s) for s in container.unpack(valid_file).sections)
    for _ in range(5):
        junk = rng.integers(0, 256, size).astype(np.uint8).tobytes()
        data = repack_with_valid_crcs(valid_file, junk)
        try:
            img = api.decompress(data, tiny_model)
            assert img.size == (64, 48)
        except container.FormatError:
            pass


def test_unknown_model_in_file(tmp_path, capsys):
    f = container.SaliFile(10, 10, "no-such-model", b"\0" * 8, [b"", b"", b"", b""])
    src, out = tmp_path / "x.sali", tmp_path / "x.png"
    src.write_bytes(container.pack(f))
    rc, err = run_cli(capsys, ["decompress", str(src), "-o", str(out)])
    assert_clean_failure(rc, err, out)
    assert "unknown model" in err


def test_not_an_image(tmp_path, capsys):
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    src.write_text("hello")
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none"])
    assert_clean_failure(rc, err, out)


@pytest.mark.parametrize("steps", ["-1", "10001"])
def test_refine_out_of_range(tmp_path, capsys, steps):
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    Image.fromarray(photo(32, 32)).save(src)
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none", "--refine", steps])
    assert_clean_failure(rc, err, out)
    assert "--refine" in err


def test_refine_dpl_without_refine(tmp_path, capsys):
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    Image.fromarray(photo(32, 32)).save(src)
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none", "--refine-dpl"])
    assert_clean_failure(rc, err, out)
    assert "--refine-dpl needs --refine" in err


@pytest.mark.parametrize("error", [
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 10000000000000 bytes. Error code 12 (Cannot allocate memory)"),
])
def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch, error):
    # A large image can exhaust memory in the encoder: a clear line, not a traceback, no file.
    def exhausted(*args, **kwargs):
        raise error

    monkeypatch.setattr(api, "compress", exhausted)
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    Image.fromarray(photo(32, 32)).save(src)
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none"])
    assert_clean_failure(rc, err, out)
    assert "out of memory" in err


def test_other_runtime_errors_are_not_hidden(tmp_path, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(api, "compress", bug)
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    Image.fromarray(photo(32, 32)).save(src)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli.main(["compress", str(src), "-o", str(out), "--saliency", "none"])


def test_missing_input(tmp_path, capsys):
    out = tmp_path / "a.sali"
    rc, err = run_cli(capsys, ["compress", str(tmp_path / "nope.png"), "-o", str(out)])
    assert_clean_failure(rc, err, out)


def test_rgba_refused(tmp_path, capsys):
    src, out = tmp_path / "a.png", tmp_path / "a.sali"
    Image.new("RGBA", (8, 8), (1, 2, 3, 4)).save(src)
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none"])
    assert_clean_failure(rc, err, out)
    assert "alpha" in err


def test_pixel_cap(tmp_path, capsys):
    # A PNG header that claims 9000 x 9000 pixels: refused before any pixel is decoded.
    src, out = tmp_path / "big.png", tmp_path / "big.sali"
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 9000, 9000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    src.write_bytes(png)
    rc, err = run_cli(capsys, ["compress", str(src), "-o", str(out), "--saliency", "none"])
    assert_clean_failure(rc, err, out)
    assert "limit" in err


def test_no_overwrite_without_force(tmp_path, capsys, valid_file):
    src, out = tmp_path / "x.sali", tmp_path / "x.png"
    src.write_bytes(valid_file)
    out.write_bytes(b"keep me")
    rc, err = run_cli(capsys, ["decompress", str(src), "-o", str(out)])
    assert rc == 2 and "exists" in err and out.read_bytes() == b"keep me"


def test_real_process_exit_status(tmp_path, valid_file):
    src, out = tmp_path / "x.sali", tmp_path / "x.png"
    src.write_bytes(valid_file[:-3])
    p = subprocess.run([sys.executable, "-m", "salicodec.cli", "decompress", str(src), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists()
