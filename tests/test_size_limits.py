"""Every reader checks what a file declares against a stated limit before it allocates: decompression bombs,
lying .npy / .npz headers, .npz and gzip expansion, absurd labels, devices and pipes, each one line."""

import gzip
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnscope import arrays, data
from nnscope.errors import NnscopeError
from nnscope.images import read_pixels
from nnscope.labelled_data import load_labelled_data
from nnscope.limits import MAX_IMAGE_PIXELS


def png_declaring(width: int, height: int) -> bytes:
    """A 1 x 1 grey PNG whose IHDR chunk (CRC fixed) declares width x height."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(buffer, format="PNG")
    raw = bytearray(buffer.getvalue())
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    raw[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr:ihdr + 17])))
    return bytes(raw)


def bmp_declaring(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring width x height, with a few bytes of pixels."""
    header = struct.pack("<2sIHHI", b"BM", 54 + 12, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 12, 2835, 2835, 0, 0)
    return header + info + bytes(12)


@pytest.mark.parametrize("name, content", [("bomb.png", png_declaring(50_000, 50_000)),
                                           ("wide.png", png_declaring(10_000, 7_000)),
                                           ("bomb.bmp", bmp_declaring(50_000, 50_000))])
def test_pictures_declaring_too_many_pixels_are_refused_undecoded(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(NnscopeError, match=f"{name}: .*the limit is {MAX_IMAGE_PIXELS} pixels"):
        read_pixels(tmp_path / name)


def test_an_empty_image_is_named_as_the_image(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 0), np.uint8))
    with pytest.raises(NnscopeError, match=r"empty.npy: image of 0 x 0 pixels; expected at least 1 x 1"):
        read_pixels(tmp_path / "empty.npy")


def npy_header(shape, dtype="<f8") -> bytes:
    """The magic string and header of a .npy file declaring `shape` of `dtype` (no data)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_npy_headers_that_lie_are_refused_before_allocating(tmp_path):
    (tmp_path / "huge.npy").write_bytes(npy_header((100_000, 100_000, 100)))
    with pytest.raises(NnscopeError, match=r"huge.npy: its header declares 100000 x 100000 x 100 float64 = 7.3 TiB; "
                                           r"the limit is 4.0 GiB"):
        read_pixels(tmp_path / "huge.npy")
    (tmp_path / "short.npy").write_bytes(npy_header((1000, 1000)) + bytes(10))
    with pytest.raises(NnscopeError, match=r"short.npy: its header declares 7.6 MiB of data, the file holds 10 bytes"):
        read_pixels(tmp_path / "short.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(NnscopeError, match=r"objects.npy: an array of Python objects"):
        read_pixels(tmp_path / "objects.npy")


def test_npz_expansion_and_lying_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(arrays, "MAX_ARRAY_BYTES", 2**20)
    np.savez_compressed(tmp_path / "zeros.npz", images=np.zeros((40, 28, 28, 3), np.uint8), labels=np.arange(40) % 2)
    assert (tmp_path / "zeros.npz").stat().st_size < 10_000  # 94 kB of zeros, compressed
    np.savez_compressed(tmp_path / "bomb.npz", images=np.zeros((1500, 28, 28), np.uint8), labels=np.arange(1500) % 2)
    with pytest.raises(NnscopeError, match=r"--data: .*bomb.npz: its arrays expand to 1.1 MiB; the limit is 1.0 MiB"):
        load_labelled_data(tmp_path / "bomb.npz")
    assert load_labelled_data(tmp_path / "zeros.npz").images.shape == (40, 3, 28, 28)
    with zipfile.ZipFile(tmp_path / "lying.npz", "w") as z:
        z.writestr("images.npy", npy_header((10, 10, 10)) + bytes(8))
    with pytest.raises(NnscopeError, match=r"lying.npz array 'images': its header declares 7.8 KiB of data, "
                                           r"the file holds 8 bytes"):
        load_labelled_data(tmp_path / "lying.npz")


def test_an_absurd_label_is_refused_before_naming_its_classes(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 4, 4), np.uint8), labels=np.array([0, 10**12]))
    with pytest.raises(NnscopeError, match=r"label 1000000000000; expected labels below 100000"):
        load_labelled_data(tmp_path / "d.npz")


def test_a_gzip_bomb_of_idx_is_refused_while_it_expands(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ARRAY_BYTES", 2**20)
    header = struct.pack(">IIII", 0x803, 2000, 28, 28)
    (tmp_path / "images.gz").write_bytes(gzip.compress(header + bytes(2000 * 28 * 28)))
    with pytest.raises(NnscopeError, match=r"images.gz: expands past 1.0 MiB when decompressed"):
        data.read_idx(tmp_path / "images.gz", 0x803)


def test_devices_pipes_and_folders_are_named_for_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path in ("/dev/zero", tmp_path / "pipe", tmp_path):
        with pytest.raises(NnscopeError, match="is a folder, a device or a pipe, not an image file"):
            read_pixels(path)
    with pytest.raises(NnscopeError, match=r"--data: .*pipe is a device or a pipe"):
        load_labelled_data(tmp_path / "pipe")
