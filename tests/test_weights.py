import os
import pickle

import numpy as np
import pytest

from salicodec import weights


def test_missing_weights_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SALICODEC_HOME", str(tmp_path))
    with pytest.raises(weights.WeightsMissing, match="salicodec weights fetch u2netp"):
        weights.path("u2netp")


def test_copy_to_cache_checks_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("SALICODEC_HOME", str(tmp_path / "cache"))
    bad = tmp_path / "fake.onnx"
    bad.write_bytes(b"not the model")
    with pytest.raises(RuntimeError, match="sha256"):
        weights.copy_to_cache(bad, "u2netp")
    assert not (tmp_path / "cache" / "u2netp.onnx").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    p = tmp_path / "evil.ckpt"
    p.write_bytes(pickle.dumps({"w": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights.load_numpy_pickle(p)


def test_restricted_unpickler_reads_arrays(tmp_path):
    p = tmp_path / "ok.ckpt"
    p.write_bytes(pickle.dumps({"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": [1, 2]}))
    d = weights.load_numpy_pickle(p)
    assert d["a"]["kernel"].shape == (2, 3) and d["b"] == [1, 2]
