"""`load_image`: every file type gives the pixels written into it, converted to the model's channels."""

import numpy as np
import pytest
from PIL import Image

from nnscope.errors import NnscopeError
from nnscope.images import load_image, read_pixels

GREY = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7) * 7  # (H, W) = (5, 7), values 0..238
RGB = np.stack([GREY, 255 - GREY, np.full_like(GREY, 100)], axis=2)  # (5, 7, 3)


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_lossless_pictures_read_back_exactly(tmp_path, suffix):
    Image.fromarray(GREY).save(tmp_path / f"grey{suffix}")
    Image.fromarray(RGB).save(tmp_path / f"rgb{suffix}")
    grey = load_image(tmp_path / f"grey{suffix}", channels=1)
    assert grey.dtype == np.float32 and grey.shape == (1, 5, 7)
    np.testing.assert_array_equal(grey[0], GREY / np.float32(255))
    rgb = load_image(tmp_path / f"rgb{suffix}", channels=3)
    np.testing.assert_array_equal(rgb, RGB.transpose(2, 0, 1) / np.float32(255))


def test_jpeg_is_close_to_what_was_written(tmp_path):
    flat = np.full((16, 16, 3), (200, 40, 90), dtype=np.uint8)
    Image.fromarray(flat).save(tmp_path / "flat.jpg", quality=95)
    image = load_image(tmp_path / "flat.jpg", channels=3)
    np.testing.assert_allclose(image[:, 8, 8], np.array([200, 40, 90]) / 255, atol=3 / 255)


def test_grey_becomes_rgb_and_rgb_becomes_luma(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "grey.png")
    rgb = load_image(tmp_path / "grey.png", channels=3)
    assert rgb.shape == (3, 5, 7) and (rgb[0] == rgb[1]).all() and (rgb[1] == rgb[2]).all()
    pixel = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)  # (1, 4, 3)
    Image.fromarray(pixel).save(tmp_path / "rgb.png")
    grey = load_image(tmp_path / "rgb.png", channels=1)[0, 0] * 255
    # ITU-R 601: 0.299 R + 0.587 G + 0.114 B, rounded to the nearest 8-bit value
    np.testing.assert_array_equal(grey, np.float32([76, 150, 29, 18]))


@pytest.mark.parametrize("layout", ["hw", "hwc", "chw"])
def test_npy_in_every_layout_uint8_and_float(tmp_path, layout):
    array = {"hw": GREY, "hwc": GREY[:, :, None], "chw": GREY[None]}[layout]
    np.save(tmp_path / "u8.npy", array)
    np.save(tmp_path / "f.npy", array.astype(np.float64) / 255)
    for name in ("u8.npy", "f.npy"):
        image = load_image(tmp_path / name, channels=1)
        np.testing.assert_allclose(image[0], GREY / 255, rtol=0, atol=1e-7)
    rgb_chw = RGB.transpose(2, 0, 1).astype(np.float32) / 255
    np.save(tmp_path / "rgb.npy", rgb_chw)
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.npy", channels=3), rgb_chw)


def test_palette_and_alpha_pictures_become_grey_or_rgb(tmp_path):
    Image.fromarray(RGB).convert("RGBA").save(tmp_path / "alpha.png")
    Image.fromarray(GREY).convert("P").save(tmp_path / "palette.png")
    assert read_pixels(tmp_path / "alpha.png").shape == (5, 7, 3)
    assert read_pixels(tmp_path / "palette.png").shape[2] in (1, 3)


def test_bad_images_give_one_line(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "small.png")
    with pytest.raises(NnscopeError, match=r"small.png: image of 5 x 7 pixels; the model takes 28 x 28"):
        load_image(tmp_path / "small.png", channels=1, size=(28, 28))
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(NnscopeError, match=r"fake.png: cannot read the image"):
        load_image(tmp_path / "fake.png", channels=1)
    with pytest.raises(NnscopeError, match=r"absent.png: no such image file"):
        load_image(tmp_path / "absent.png", channels=1)
    (tmp_path / "photo.gif").write_bytes(b"GIF89a")
    with pytest.raises(NnscopeError, match=r"unknown image type '.gif'"):
        load_image(tmp_path / "photo.gif", channels=1)
    np.save(tmp_path / "bright.npy", np.full((4, 4), 2.5))
    with pytest.raises(NnscopeError, match=r"values from 2.5 to 2.5; expected uint8 pixels 0-255 or floats in \[0, 1\]"):
        load_image(tmp_path / "bright.npy", channels=1)
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 4, 4)))
    with pytest.raises(NnscopeError, match=r"array of shape \(4, 4, 4, 4\)"):
        load_image(tmp_path / "cube.npy", channels=1)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(NnscopeError, match=r"broken.npy: cannot read the .npy array"):
        load_image(tmp_path / "broken.npy", channels=1)
    with pytest.raises(NnscopeError, match=r"the model takes 4 channels"):
        load_image(tmp_path / "small.png", channels=4)


def test_sixteen_bit_grey_keeps_its_precision(tmp_path):
    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)  # 0..55000 of 65535
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png", channels=1)
    np.testing.assert_allclose(image[0], deep / 65535, rtol=0, atol=1e-7)
