"""Output paths checked before the work: one line naming the option and the user's path, nothing left behind."""

import os

import pytest

from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write_text
from nnscope.outputs import check_output_dir, check_output_file, nearest_existing


def test_writable_paths_pass_and_nothing_is_created(tmp_path):
    (tmp_path / "old.pt").write_bytes(b"x")
    assert check_output_file("--checkpoint", tmp_path / "old.pt") == tmp_path / "old.pt"
    assert check_output_file("--checkpoint", tmp_path / "a" / "b" / "m.pt") == tmp_path / "a" / "b" / "m.pt"
    check_output_dir("--out", tmp_path / "report")
    check_output_dir("--out", tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["old.pt"]  # no folder made, no probe left
    assert nearest_existing(tmp_path / "a" / "b" / "m.pt") == tmp_path


@pytest.mark.parametrize("check,option,make,message", [
    (check_output_file, "--checkpoint", lambda t: t, r"--checkpoint: {t} is a folder; expected a file name"),
    (check_output_file, "--npz", lambda t: t / "f.txt" / "x.npz", r"--npz: cannot create the folder {t}/f.txt \({t}/f.txt is a file\)"),
    (check_output_dir, "--out", lambda t: t / "f.txt", r"--out: {t}/f.txt is a file; expected a folder \(created if missing\)"),
    (check_output_dir, "--out", lambda t: t / "f.txt" / "sub", r"--out: cannot create the folder {t}/f.txt/sub \({t}/f.txt is a file\)"),
    (check_output_file, "--checkpoint", lambda t: "/proc/x.pt", r"--checkpoint: the folder /proc is not writable \(.*\), so /proc/x.pt cannot be written"),
    (check_output_dir, "--out", lambda t: "/proc/1/new/sub", r"--out: cannot create the folder /proc/1/new in /proc/1 \("),
])
def test_unusable_paths_name_the_option_and_the_users_path(tmp_path, check, option, make, message):
    (tmp_path / "f.txt").write_text("keep me")
    with pytest.raises(NnscopeError, match=message.format(t=tmp_path)) as e:
        check(option, make(tmp_path))
    assert ".tmp" not in str(e.value) and "probe" not in str(e.value)
    assert (tmp_path / "f.txt").read_text() == "keep me"


def test_a_failed_atomic_write_names_the_target_not_the_temporary_file(tmp_path):
    (tmp_path / "f.txt").write_text("keep me")
    with pytest.raises(OSError) as e:
        atomic_write_text(tmp_path / "f.txt" / "x.json", "{}")  # its parent is a file
    assert e.value.filename == str(tmp_path / "f.txt" / "x.json")
    with pytest.raises(OSError) as e:
        atomic_write_text(tmp_path, "{}")  # a folder: the rename fails, after the temporary file was written
    assert e.value.filename == str(tmp_path) and sorted(os.listdir(tmp_path)) == ["f.txt"]
