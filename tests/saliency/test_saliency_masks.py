"""Grid masks, user masks and boxes, and the shared CLI options (no model needed)."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from salicodec.errors import SalicodecError
from salicodec.saliency import (
    add_saliency_args,
    grid_mask,
    load_mask,
    parse_box,
    resolve,
    saliency_from_args,
    upsample_grid,
)

RGB = np.zeros((20, 30, 3), dtype=np.uint8)


def test_grid_shape_is_ceil_of_size_over_factor():
    assert grid_mask(np.zeros((17, 33)), factor=8).shape == (3, 5)
    assert grid_mask(np.zeros((16, 32)), factor=8).shape == (2, 4)


def test_grid_threshold_on_block_mean():
    prob = np.zeros((16, 16), dtype=np.float32)
    prob[0:8, 0:4] = 1.0  # half of block (0, 0)
    prob[8:16, 8:10] = 1.0  # a quarter of block (1, 1)
    cells = grid_mask(prob, threshold=0.5, dilate=0)
    np.testing.assert_array_equal(cells, [[True, False], [False, False]])
    cells = grid_mask(prob, threshold=0.25, dilate=0)
    np.testing.assert_array_equal(cells, [[True, False], [False, True]])


def test_grid_edge_blocks_average_valid_pixels_only():
    prob = np.zeros((9, 9), dtype=np.float32)
    prob[8, 8] = 1.0  # the only pixel of the bottom-right block
    cells = grid_mask(prob, threshold=0.5, dilate=0)
    assert cells[1, 1] and cells.sum() == 1


def test_grid_dilation_is_a_square_clipped_at_the_border():
    prob = np.zeros((40, 40), dtype=np.float32)
    prob[16:24, 16:24] = 1.0  # cell (2, 2)
    prob[0:8, 0:8] = 1.0  # cell (0, 0)
    cells = grid_mask(prob, threshold=0.5, dilate=1)
    expected = np.zeros((5, 5), dtype=bool)
    expected[1:4, 1:4] = True
    expected[0:2, 0:2] = True
    np.testing.assert_array_equal(cells, expected)
    assert grid_mask(prob, dilate=2).sum() == 25


def test_upsample_grid_crops_to_image():
    cells = np.array([[True, False], [False, True]])
    up = upsample_grid(cells, 12, 9)  # factor 8: cells of 8x8, the last ones cropped
    assert up.shape == (12, 9)
    assert up[0:8, 0:8].all() and not up[0:8, 8].any() and up[8:, 8:].all()


def test_resolve_none_is_all_zero_and_boxes_are_exclusive():
    prob = resolve("none", RGB, roi_boxes=[(2, 3, 5, 7)])
    assert prob.dtype == np.float32 and prob.shape == (20, 30)
    assert prob[3:7, 2:5].min() == 1.0 and prob.sum() == 4 * 3


def test_resolve_roi_masks_add_by_maximum(tmp_path):
    base = np.zeros((20, 30), dtype=np.uint8)
    base[:, :10] = 102  # 0.4
    Image.fromarray(base).save(tmp_path / "base.png")
    roi = np.zeros((20, 30), dtype=np.uint8)
    roi[:, 5:15] = 255
    Image.fromarray(roi).save(tmp_path / "roi.png")
    prob = resolve(tmp_path / "base.png", RGB, roi_masks=[tmp_path / "roi.png"])
    np.testing.assert_allclose(prob[0, :5], 0.4)
    np.testing.assert_allclose(prob[0, 5:15], 1.0)
    np.testing.assert_allclose(prob[0, 15:], 0.0)
    arr_roi = np.zeros((20, 30), dtype=bool)
    arr_roi[0, 29] = True
    assert resolve("none", RGB, roi_masks=[arr_roi])[0, 29] == 1.0


@pytest.mark.parametrize("box", [(0, 0, 31, 5), (-1, 0, 5, 5), (5, 5, 5, 9), (0, 9, 4, 3), (0, 0, 30, 21)])
def test_resolve_refuses_boxes_outside_the_image(box):
    with pytest.raises(SalicodecError, match="not inside the 30x20 image"):
        resolve("none", RGB, roi_boxes=[box])


def test_wrong_size_mask_names_both_sizes(tmp_path):
    Image.fromarray(np.zeros((21, 30), dtype=np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(SalicodecError, match="mask is 30x21 but the image is 30x20"):
        resolve(tmp_path / "m.png", RGB)
    with pytest.raises(SalicodecError, match="mask is 30x21"):
        resolve("none", RGB, roi_masks=[tmp_path / "m.png"])


def test_mask_files_bad_input(tmp_path):
    with pytest.raises(SalicodecError, match="expected auto, none or the path"):
        resolve(tmp_path / "absent.png", RGB)
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(SalicodecError, match="not a readable mask image"):
        load_mask(tmp_path / "junk.png", (20, 30))
    Image.new("RGBA", (30, 20)).save(tmp_path / "rgba.png")
    with pytest.raises(SalicodecError, match="alpha"):
        load_mask(tmp_path / "rgba.png", (20, 30))


def test_16_bit_mask_is_scaled_to_one(tmp_path):
    a = np.full((20, 30), 65535, dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "m16.png")
    np.testing.assert_allclose(load_mask(tmp_path / "m16.png", (20, 30)), 1.0)


def test_parse_box():
    assert parse_box("1, 2,3,4") == (1, 2, 3, 4)
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,4,5", "1.5,2,3,4"):
        with pytest.raises(SalicodecError, match="four integers"):
            parse_box(bad)


def test_shared_cli_options():
    parser = argparse.ArgumentParser()
    add_saliency_args(parser)
    args = parser.parse_args([])
    assert args.saliency == "auto" and args.roi == [] and args.roi_box == []
    args = parser.parse_args(["--saliency", "none", "--roi-box", "0,0,2,2", "--roi-box", "28,18,30,20"])
    prob = saliency_from_args(args, RGB)
    assert prob.sum() == 8 and prob[19, 29] == 1.0 and prob[0, 0] == 1.0
    args = parser.parse_args(["--saliency", "none", "--roi-box", "0,0,99,2"])
    with pytest.raises(SalicodecError, match="not inside"):
        saliency_from_args(args, RGB)


def test_upsample_grid_refuses_a_grid_of_another_image():
    with pytest.raises(ValueError):
        upsample_grid(np.zeros((3, 3), dtype=bool), 12, 9)
