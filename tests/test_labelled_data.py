"""`load_labelled_data`: ImageFolder trees, IDX files of any count and size, .npz; class picking; bad input."""

import struct

import numpy as np
import pytest
from PIL import Image

from nnscope.errors import NnscopeError
from nnscope.labelled_data import load_labelled_data, pick_classes


def picture(path, value: int, size=(6, 5), mode="L"):
    """A flat picture of one grey value, (H, W) = size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).convert(mode).save(path)


def write_idx(path, array: np.ndarray, magic: int):
    """An IDX file by hand: magic, one big-endian uint32 per dimension, then the bytes."""
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def test_image_folder_numbers_classes_by_sorted_folder(tmp_path):
    picture(tmp_path / "zebra" / "a.png", 10)
    picture(tmp_path / "cat" / "b.bmp", 20)
    picture(tmp_path / "cat" / "a.png", 30)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")  # skipped: not an image type
    (tmp_path / "empty").mkdir()  # keeps its index, as torchvision's ImageFolder sorts
    data = load_labelled_data(tmp_path)
    assert data.class_names == ("cat", "empty", "zebra")
    assert data.labels.tolist() == [0, 0, 2] and data.images.shape == (3, 1, 6, 5)
    assert data.images.dtype == np.uint8 and data.scale == pytest.approx(1 / 255)
    # files in sorted order within a class: cat/a.png (30) before cat/b.bmp (20)
    np.testing.assert_allclose(data.float_images()[:, 0, 0, 0], np.float32([30, 20, 10]) / 255, rtol=1e-6)
    assert data.input_shape == (1, 6, 5)


def test_mixed_grey_and_rgb_become_rgb_or_the_model_channels(tmp_path):
    picture(tmp_path / "a" / "grey.png", 50)
    picture(tmp_path / "b" / "rgb.png", 80, mode="RGB")
    assert load_labelled_data(tmp_path).images.shape == (2, 3, 6, 5)
    grey = load_labelled_data(tmp_path, channels=1, size=(6, 5))
    assert grey.images.shape == (2, 1, 6, 5) and grey.images[:, 0, 0, 0].tolist() == [50, 80]
    with pytest.raises(NnscopeError, match=r"images of 6 x 5 pixels; the model takes 28 x 28"):
        load_labelled_data(tmp_path, channels=1, size=(28, 28))


def test_idx_files_of_any_count_and_size(tmp_path):
    images = np.arange(7 * 4 * 3, dtype=np.uint8).reshape(7, 4, 3)
    labels = np.array([0, 1, 2, 1, 0, 2, 2], dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images, 0x803)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, 0x801)
    for path in (tmp_path, tmp_path / "t10k-images-idx3-ubyte"):
        data = load_labelled_data(path)
        assert data.images.shape == (7, 1, 4, 3) and data.labels.tolist() == labels.tolist()
        np.testing.assert_array_equal(data.images[:, 0], images)
        assert data.class_names == ("0", "1", "2")


def test_idx_folder_with_only_the_training_pair(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8), 0x803)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 1], np.uint8), 0x801)
    assert load_labelled_data(tmp_path).labels.tolist() == [0, 1, 1]


def test_npz_with_channels_last_floats_and_names(tmp_path):
    images = np.random.default_rng(0).random((4, 5, 6, 3)).astype(np.float32)  # (N, H, W, C)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([1, 0, 1, 0]), class_names=np.array(["no", "yes"]))
    data = load_labelled_data(tmp_path / "d.npz")
    assert data.images.shape == (4, 3, 5, 6) and data.scale == 1.0 and data.class_names == ("no", "yes")
    np.testing.assert_array_equal(data.float_images([2])[0], images[2].transpose(2, 0, 1))


def test_pick_classes_by_name_or_index():
    names = ("cat", "dog", "horse")
    assert pick_classes(names, ["dog", "0"]) == [1, 0]
    assert pick_classes(names, [2]) == [2]
    with pytest.raises(NnscopeError, match=r"--classes: 'dgo' is not a class of the data; close matches: dog; "
                                           r"known classes \(or indices 0-2\): cat, dog, horse"):
        pick_classes(names, ["dgo"])
    with pytest.raises(NnscopeError, match=r"'7' is not a class"):
        pick_classes(names, ["7"])


def test_bad_data_gives_one_line(tmp_path):
    (tmp_path / "none" / "a").mkdir(parents=True)
    with pytest.raises(NnscopeError, match=r"--data: .*none: no images found"):
        load_labelled_data(tmp_path / "none")
    picture(tmp_path / "one" / "only" / "x.png", 1)
    picture(tmp_path / "one" / "only" / "y.png", 2)
    with pytest.raises(NnscopeError, match=r"a single class \('only'\); expected images of at least two classes"):
        load_labelled_data(tmp_path / "one")
    picture(tmp_path / "sizes" / "a" / "x.png", 1, size=(6, 5))
    picture(tmp_path / "sizes" / "b" / "y.png", 1, size=(8, 8))
    with pytest.raises(NnscopeError, match=r"images of different sizes: a/x.png is 6 x 5, b/y.png is 8 x 8"):
        load_labelled_data(tmp_path / "sizes")
    picture(tmp_path / "broken" / "a" / "x.png", 1)
    (tmp_path / "broken" / "b").mkdir()
    (tmp_path / "broken" / "b" / "y.png").write_bytes(b"no picture")
    with pytest.raises(NnscopeError, match=r"y.png: cannot read the image"):
        load_labelled_data(tmp_path / "broken")
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(NnscopeError, match=r"no array 'labels'; found images"):
        load_labelled_data(tmp_path / "nolabels.npz")
    with pytest.raises(NnscopeError, match=r"--data: .*missing: no such file or folder"):
        load_labelled_data(tmp_path / "missing")
    (tmp_path / "lone-file").write_bytes(b"x")
    with pytest.raises(NnscopeError, match=r"no IDX labels file beside it"):
        load_labelled_data(tmp_path / "lone-file")
