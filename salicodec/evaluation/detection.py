"""Object detection on (compressed) images: YOLOX-Nano with onnxruntime, COCO AP with pycocotools.

The paper (Patel et al., Table 1) runs a COCO-trained Faster R-CNN on the reconstructions of
MS-COCO val2017 at 0.23 / 0.37 / 0.67 / 1.0 bpp. Neither Faster R-CNN weights nor the full val2017
are obtainable here; what is: YOLOX-Nano (COCO, 80 classes, ONNX; ../shared/weights/yolox_nano.onnx)
and 79 val2017 images with their annotations (../shared/data/coco_val_mini). The numbers are thus an
analogue of Table 1, not a reproduction: a smaller detector (lower absolute AP) and a sample of 79
images (hence the bootstrap confidence intervals).
Paper Table 2 (instance segmentation with Mask R-CNN) has no analogue: no COCO instance
segmenter is obtainable here (none in the shared folder; torchvision cannot be installed).

Pre- and post-processing follow the YOLOX reference code (yolox/data/data_augment.py `preproc`,
yolox/utils/demo_utils.py `demo_postprocess`, yolox/utils/boxes.py `postprocess`):
- the image, as BGR 0..255 floats (not normalised), is resized keeping its aspect ratio into the
  top-left corner of a 416x416 canvas filled with 114;
- each of the 3549 rows of the output is one anchor point of the stride-8, 16 and 32 grids (52x52,
  26x26, 13x13, row-major): centre = (dx, dy) + cell, size = exp(log w, log h), both times the
  stride; score = objectness x class score (both already sigmoids in the export);
- a box keeps its best class; class-aware NMS; boxes are scaled back by the resize ratio.
The score threshold (0.01) and NMS IoU (0.65) are YOLOX's COCO-evaluation settings (its demo uses
0.45 IoU for pictures); AP needs the low-confidence detections too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SalicodecError
from ..imageio import shared_dir

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114.0
NUM_CLASSES = 80


def default_weights_path() -> Path:
    return shared_dir() / "weights" / "yolox_nano.onnx"


def default_coco_dir() -> Path:
    return shared_dir() / "data" / "coco_val_mini"


@dataclass(frozen=True)
class DetectorConfig:
    weights: Path | None = None  # default: shared_dir()/weights/yolox_nano.onnx
    score_threshold: float = 0.01
    nms_iou: float = 0.65
    max_detections: int = 100  # COCO's maxDets
    threads: int = 1


@dataclass
class Detections:
    boxes: np.ndarray  # (N, 4) float32, x0, y0, x1, y1 in image pixels
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int64, 0..79 (YOLOX's order = COCO's category ids sorted)


# --------------------------------------------------------------------------------------------
# pre- and post-processing (pure numpy: tested on fixed examples)
def preprocess(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W, 3) RGB uint8 -> (1, 3, 416, 416) float32 BGR input and the resize ratio."""
    h, w = rgb.shape[:2]
    ratio = min(INPUT_SIZE / h, INPUT_SIZE / w)
    nh, nw = max(1, int(h * ratio)), max(1, int(w * ratio))
    # YOLOX uses cv2.resize(INTER_LINEAR); Pillow's bilinear is the same filter up to rounding.
    resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR), dtype=np.float32)
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, dtype=np.float32)
    canvas[:nh, :nw] = resized[:, :, ::-1]  # RGB -> BGR
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), ratio


def anchor_grid(size: int = INPUT_SIZE, strides=STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell coordinates (N, 2) as (x, y) and strides (N, 1) of every output row, in output order."""
    cells, steps = [], []
    for s in strides:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        steps.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_output(raw: np.ndarray, ratio: float, config: DetectorConfig = DetectorConfig()) -> Detections:
    """(3549, 85) raw network output -> detections in the original image's pixels."""
    raw = np.asarray(raw, dtype=np.float32)
    cells, steps = anchor_grid()
    if raw.shape != (cells.shape[0], 5 + NUM_CLASSES):
        raise SalicodecError(f"detector output has shape {raw.shape}, expected ({cells.shape[0]}, 85)")
    centre = (raw[:, 0:2] + cells) * steps
    size = np.exp(np.minimum(raw[:, 2:4], 20.0)) * steps  # clamp: exp overflow on garbage input
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / ratio
    cls = np.argmax(raw[:, 5:], axis=1)
    scores = raw[:, 4] * raw[np.arange(raw.shape[0]), 5 + cls]
    keep = scores >= config.score_threshold
    boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
    keep = nms_per_class(boxes, scores, cls, config.nms_iou)[: config.max_detections]
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32), cls[keep].astype(np.int64))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, highest score first."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    area = np.maximum(0, x1 - x0) * np.maximum(0, y1 - y0)
    kept = []
    while order.size:
        i = order[0]
        kept.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        h = np.maximum(0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.array(kept, dtype=np.int64)


def nms_per_class(boxes, scores, classes, iou_threshold) -> np.ndarray:
    """Class-aware NMS (boxes of different classes never suppress each other), sorted by score."""
    kept = [np.flatnonzero(classes == c)[nms(boxes[classes == c], scores[classes == c], iou_threshold)]
            for c in np.unique(classes)]
    if not kept:
        return np.zeros(0, dtype=np.int64)
    idx = np.concatenate(kept)
    return idx[np.argsort(-scores[idx], kind="stable")]


# --------------------------------------------------------------------------------------------
# the detector
class YoloxNano:
    def __init__(self, config: DetectorConfig = DetectorConfig()):
        self.config = config
        path = Path(config.weights) if config.weights else default_weights_path()
        if not path.is_file():
            raise SalicodecError(
                f"YOLOX-Nano weights not found at {path} (the COCO detector of the detection benchmark; "
                "give --detector-weights PATH or set SALICODEC_SHARED to the folder holding weights/yolox_nano.onnx)"
            )
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(config.threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - a corrupt file is a user-fixable state
            raise SalicodecError(f"{path}: cannot load the ONNX detector ({type(e).__name__})") from None
        self.input_name = self.session.get_inputs()[0].name

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        x, ratio = preprocess(rgb)
        return self.session.run(None, {self.input_name: x})[0][0], ratio

    def detect(self, rgb: np.ndarray) -> Detections:
        raw, ratio = self.raw(rgb)
        return decode_output(raw, ratio, self.config)


# --------------------------------------------------------------------------------------------
# COCO data and AP
@dataclass
class CocoSet:
    directory: Path
    annotations: dict  # the parsed instances JSON
    category_ids: list[int]  # YOLOX class index -> COCO category id

    @property
    def images(self) -> list[dict]:
        return self.annotations["images"]

    def image_path(self, image: dict) -> Path:
        return self.directory / "images" / image["file_name"]


def load_coco(directory: str | Path | None = None) -> CocoSet:
    d = Path(directory) if directory else default_coco_dir()
    ann = d / "instances_val2017_mini.json"
    if not ann.is_file():
        raise SalicodecError(f"COCO annotations not found at {ann} (set SALICODEC_SHARED or give --coco DIR)")
    data = json.loads(ann.read_text())
    cats = sorted(c["id"] for c in data["categories"])
    if len(cats) != NUM_CLASSES:
        raise SalicodecError(f"{ann}: {len(cats)} categories, the detector knows the 80 of COCO")
    return CocoSet(d, data, cats)


def to_coco_results(image_id: int, det: Detections, category_ids: list[int]) -> list[dict]:
    out = []
    for (x0, y0, x1, y1), s, c in zip(det.boxes.tolist(), det.scores.tolist(), det.classes.tolist()):
        out.append({"image_id": int(image_id), "category_id": int(category_ids[c]),
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(s)})
    return out


@dataclass
class ApResult:
    ap: float  # AP@[.5:.95]
    ap50: float
    ap75: float
    ci: tuple[float, float] | None = None  # bootstrap 95 % interval of AP@[.5:.95]
    ci50: tuple[float, float] | None = None


def _quiet_cocoeval(coco_gt_data: dict, results: list[dict]):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_gt_data
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_ap(coco: CocoSet, results: list[dict], bootstrap: int = 0, seed: int = 0) -> ApResult:
    """AP@[.5:.95], AP50, AP75 by pycocotools; with `bootstrap` > 0 also percentile 95 % intervals
    from resampling the images with replacement (the per-image matches are computed once by
    pycocotools; each resample re-accumulates them exactly as COCOeval.accumulate does)."""
    if not results:
        return ApResult(0.0, 0.0, 0.0, (0.0, 0.0) if bootstrap else None, (0.0, 0.0) if bootstrap else None)
    ev = _quiet_cocoeval(coco.annotations, results)
    res = ApResult(float(ev.stats[0]), float(ev.stats[1]), float(ev.stats[2]))
    if bootstrap > 0:
        per_image = _per_image_matches(ev)
        rng = np.random.default_rng(seed)
        n = len(ev.params.imgIds)
        samples = np.array([_accumulate(per_image, rng.integers(0, n, n), ev.params) for _ in range(bootstrap)])
        res.ci = tuple(float(v) for v in np.percentile(samples[:, 0], [2.5, 97.5]))
        res.ci50 = tuple(float(v) for v in np.percentile(samples[:, 1], [2.5, 97.5]))
    return res


def _per_image_matches(ev) -> list[list[dict | None]]:
    """evalImgs for area 'all' as [category][image] (pycocotools' order: cat, area, image)."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    return [[ev.evalImgs[k * n_area * n_img + i] for i in range(n_img)] for k in range(len(p.catIds))]


def _accumulate(per_image, sample: np.ndarray, p) -> tuple[float, float]:
    """AP@[.5:.95] and AP50 for a multiset of image indices (COCOeval.accumulate, area 'all',
    maxDets 100; categories without ground truth in the sample are left out, as COCO does)."""
    max_det = p.maxDets[-1]
    rec_thrs = p.recThrs
    n_iou = len(p.iouThrs)
    ap_by_cat = []
    for cat in per_image:
        entries = [cat[i] for i in sample if cat[i] is not None]
        if not entries:
            continue
        scores = np.concatenate([e["dtScores"][:max_det] for e in entries])
        npig = sum(int(np.count_nonzero(e["gtIgnore"] == 0)) for e in entries)
        if npig == 0:
            continue
        order = np.argsort(-scores, kind="mergesort")
        dtm = np.concatenate([e["dtMatches"][:, :max_det] for e in entries], axis=1)[:, order]
        dt_ig = np.concatenate([e["dtIgnore"][:, :max_det] for e in entries], axis=1)[:, order]
        tps = np.logical_and(dtm, np.logical_not(dt_ig))
        fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
        tp_sum = np.cumsum(tps, axis=1, dtype=float)
        fp_sum = np.cumsum(fps, axis=1, dtype=float)
        precision = np.zeros((n_iou, len(rec_thrs)))
        for t in range(n_iou):
            tp, fp = tp_sum[t], fp_sum[t]
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1] if pr.size else pr
            inds = np.searchsorted(rc, rec_thrs, side="left")
            q = np.zeros(len(rec_thrs))
            valid = inds < pr.size
            q[valid] = pr[inds[valid]]
            precision[t] = q
        ap_by_cat.append(precision)
    if not ap_by_cat:
        return 0.0, 0.0
    prec = np.stack(ap_by_cat)  # (cats, ious, recalls)
    return float(prec.mean()), float(prec[:, 0, :].mean())


def detect_all(detector: YoloxNano, coco: CocoSet, images: dict[int, np.ndarray]) -> list[dict]:
    """COCO results for {image_id: rgb}."""
    out = []
    for image_id, rgb in images.items():
        out += to_coco_results(image_id, detector.detect(rgb), coco.category_ids)
    return out


def bpp_of(data: bytes, rgb: np.ndarray) -> float:
    return 8.0 * len(data) / (rgb.shape[0] * rgb.shape[1])


__all__ = ["YoloxNano", "DetectorConfig", "Detections", "preprocess", "decode_output", "nms",
           "load_coco", "coco_ap", "ApResult", "detect_all", "default_weights_path"]
