"""YOLOX-Nano detection and COCO AP: box decoding on fixed examples, AP on real images."""
from __future__ import annotations

import math

import numpy as np
import pytest

from salicodec.errors import SalicodecError
from salicodec.evaluation import detection as D
from salicodec.imageio import load_rgb


def one_anchor_output() -> np.ndarray:
    raw = np.zeros((3549, 85), np.float32)
    return raw


def row_of(stride: int, x: int, y: int) -> int:
    offset = {8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26}[stride]
    return offset + y * (416 // stride) + x


def test_anchor_grid_layout():
    cells, strides = D.anchor_grid()
    assert cells.shape == (3549, 2) and strides.shape == (3549, 1)
    assert tuple(cells[row_of(16, 3, 5)]) == (3, 5) and strides[row_of(16, 3, 5), 0] == 16
    assert tuple(cells[-1]) == (12, 12) and strides[-1, 0] == 32


def test_decode_output_fixed_example():
    raw = one_anchor_output()
    r = row_of(16, 3, 5)
    raw[r, :5] = [0.5, 0.25, math.log(2.0), 0.0, 0.9]  # centre (56, 84), size (32, 16)
    raw[r, 5 + 17] = 0.8  # class 17 (COCO 'horse', id 19)
    dup = row_of(16, 4, 5)  # a lower-scored copy of the same box from the next cell
    raw[dup, :5] = [-0.5, 0.25, math.log(2.0), 0.0, 0.9]
    raw[dup, 5 + 17] = 0.7
    other = row_of(8, 7, 10)  # same place, another class: class-aware NMS keeps it
    raw[other, :5] = [0.0, 0.5, math.log(4.0), math.log(2.0), 0.5]
    raw[other, 5 + 0] = 0.6
    det = D.decode_output(raw, ratio=0.5)
    assert det.classes.tolist() == [17, 0]
    np.testing.assert_allclose(det.scores, [0.72, 0.30], rtol=1e-6)
    # boxes in the original image: 416-canvas coordinates divided by the resize ratio 0.5
    np.testing.assert_allclose(det.boxes[0], np.array([40, 76, 72, 92]) / 0.5, rtol=1e-6)
    np.testing.assert_allclose(det.boxes[1], np.array([40, 76, 72, 92]) / 0.5, rtol=1e-6)


def test_decode_output_score_threshold_and_shape_check():
    raw = one_anchor_output()
    raw[0, 4], raw[0, 5] = 0.1, 0.05  # score 0.005 < 0.01
    assert len(D.decode_output(raw, 1.0).scores) == 0
    with pytest.raises(SalicodecError, match="expected"):
        D.decode_output(raw[:100], 1.0)


def test_nms_suppresses_overlaps_only():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    kept = D.nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.65)
    assert kept.tolist() == [0, 2]


def test_preprocess_letterbox():
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    x, ratio = D.preprocess(rgb)
    assert x.shape == (1, 3, 416, 416) and x.dtype == np.float32 and ratio == pytest.approx(2.08)
    assert x[0, 2, 0, 0] == 255 and x[0, 0, 0, 0] == 0  # BGR: red is the last channel
    assert (x[0, :, 208:, :] == 114).all()  # below the 416x208 image: padding


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(SalicodecError, match="YOLOX-Nano weights not found"):
        D.YoloxNano(D.DetectorConfig(weights=tmp_path / "none.onnx"))


# ---------------------------------------------------------------------------------------------
# real detector on real COCO images (shared data)
@pytest.fixture(scope="module")
def coco_subset():
    try:
        coco = D.load_coco()
        detector = D.YoloxNano()
    except SalicodecError as e:
        pytest.skip(f"shared COCO mini set or YOLOX-Nano weights absent: {e}")
    keep = coco.images[:16]
    ids = {im["id"] for im in keep}
    ann = dict(coco.annotations)
    ann["images"] = keep
    ann["annotations"] = [a for a in coco.annotations["annotations"] if a["image_id"] in ids]
    subset = D.CocoSet(coco.directory, ann, coco.category_ids)
    images = {im["id"]: load_rgb(subset.image_path(im)) for im in keep}
    return subset, detector, images


def test_ap_on_uncompressed_images_by_pycocotools(coco_subset):
    coco, detector, images = coco_subset
    results = D.detect_all(detector, coco, images)
    assert results and {r["image_id"] for r in results} <= set(images)
    ap = D.coco_ap(coco, results, bootstrap=50)
    ev = D._quiet_cocoeval(coco.annotations, results)
    assert ap.ap == pytest.approx(ev.stats[0]) and ap.ap50 == pytest.approx(ev.stats[1])
    assert 0.15 < ap.ap < ap.ap50 <= 1.0  # a working COCO detector; YOLOX-Nano is ~0.26 on val2017
    # the bootstrap re-accumulation reproduces pycocotools on the original sample
    full = D._accumulate(D._per_image_matches(ev), np.arange(len(images)), ev.params)
    assert full == pytest.approx((ev.stats[0], ev.stats[1]))
    assert ap.ci[0] <= ap.ap <= ap.ci[1] and ap.ci[0] < ap.ci[1]
    # perturbing every box by half its size destroys AP at strict IoU
    shifted = [dict(r, bbox=[r["bbox"][0] + r["bbox"][2] / 2, *r["bbox"][1:]]) for r in results]
    assert D.coco_ap(coco, shifted).ap < ap.ap / 2


def test_higher_rate_is_not_catastrophically_worse(coco_subset):
    """Sanity: JPEG at quality 90 is not far below JPEG at quality 5 on the same images."""
    from salicodec.baselines import msroi_jpeg as M

    coco, detector, images = coco_subset
    ap = {}
    for q in (5, 90):
        decoded = {i: M.decode(M.standard_jpeg(rgb, q)) for i, rgb in images.items()}
        ap[q] = D.coco_ap(coco, D.detect_all(detector, coco, decoded)).ap
    assert ap[90] > ap[5]


def test_eval_task_detection_cli(coco_subset, tmp_path, capsys):
    from salicodec.cli import main

    out = tmp_path / "det"
    args = ["eval", "--task", "detection", "--codecs", "jpeg-420", "--bpp", "0.5,1.0", "--limit", "2",
            "--bootstrap", "5", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert "| jpeg-420 | 0.50 |" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"detection.json", "detection_table.md", "detection_ap_vs_bpp.png"}
    assert main(args) == 2  # a non-empty output folder is not overwritten without --force
    err = capsys.readouterr().err
    assert err.startswith("salicodec: error: ") and "exists" in err and err.count("\n") == 1


def test_eval_task_detection_missing_weights(tmp_path, capsys):
    from salicodec.cli import main

    args = ["eval", "--task", "detection", "--detector-weights", str(tmp_path / "no.onnx"), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "YOLOX-Nano weights not found" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_eval_task_detection_ours_one_row_per_shipped_model(coco_subset, tmp_path, capsys):
    """Our codec is not rate-matched: each shipped model is a row at its own target."""
    import json

    from salicodec.cli import main
    from salicodec.models import zoo

    out = tmp_path / "det"
    args = ["eval", "--task", "detection", "--codecs", "ours", "--limit", "1", "--bootstrap", "5",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    report = json.loads((out / "detection.json").read_text())
    rows = [r for r in report["codecs"] if r["codec"] == "ours"]
    assert sorted(r["target_bpp"] for r in rows) == sorted(m.target_bpp for m in zoo.list_models())
    assert all(r["mean_bpp"] > 0 and r["unreachable"] == 0 for r in rows)
    names = {m.target_bpp: m.name for m in zoo.list_models()}
    assert all(r["settings"] == f"model {names[r['target_bpp']]}, saliency='auto'" for r in rows)
