"""Output files: written whole (temporary file + rename) and with the mode a plain open() gives."""
import os
import stat

import pytest

from salicodec.errors import SalicodecError
from salicodec.imageio import atomic_write_bytes


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_file_gets_0666_less_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.sali", b"abc")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.sali") == 0o640  # not mkstemp's 0600
    assert (tmp_path / "a.sali").read_bytes() == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["a.sali"]  # no temporary file left


def test_replaced_file_keeps_its_mode_and_an_existing_one_is_refused(tmp_path):
    dest = tmp_path / "b.png"
    dest.write_bytes(b"old")
    dest.chmod(0o604)
    with pytest.raises(SalicodecError, match="exists"):
        atomic_write_bytes(dest, b"new")
    assert dest.read_bytes() == b"old"
    atomic_write_bytes(dest, b"new", force=True)
    assert dest.read_bytes() == b"new" and _mode(dest) == 0o604
