"""Output paths checked before the work: one line naming the option and the user's path, nothing left behind."""

import os

import pytest

from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write_text
from nnscope.outputs import check_output_dir, check_output_file, nearest_existing


@pytest.fixture(autouse=True)
def own_home(tmp_path_factory, monkeypatch):
    """A ledger of written files of this test's own."""
    monkeypatch.setenv("NNSCOPE_HOME", str(tmp_path_factory.mktemp("home")))


def test_writable_paths_pass_and_nothing_is_created(tmp_path):
    atomic_write_text(tmp_path / "old.pt", "x")  # nnscope's own file: it may replace it
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


# ---- the one writer rule: never replace a file nnscope did not write, never write onto an input ----

def test_a_file_nnscope_did_not_write_is_never_replaced(tmp_path):
    from nnscope.fileio import atomic_write_bytes

    mine = tmp_path / "mine.npz"
    mine.write_bytes(b"the user's own data")
    with pytest.raises(NnscopeError, match=r"--npz: .*mine.npz exists and was not written by nnscope"):
        check_output_file("--npz", mine)
    with pytest.raises(NnscopeError, match="was not written by nnscope"):
        atomic_write_bytes(mine, b"maps")
    assert mine.read_bytes() == b"the user's own data"
    ours = tmp_path / "maps.npz"
    atomic_write_bytes(ours, b"first run")
    atomic_write_bytes(ours, b"second run")  # its own file: replaced
    assert ours.read_bytes() == b"second run"
    ours.write_bytes(b"edited by the user")  # changed since: the user's now
    with pytest.raises(NnscopeError, match="or was changed since"):
        atomic_write_bytes(ours, b"third run")
    assert ours.read_bytes() == b"edited by the user"


def test_nothing_is_written_onto_an_input_of_the_run(tmp_path):
    from nnscope import fileio

    fileio.atomic_write_bytes(tmp_path / "model.pt", b"weights")  # nnscope wrote it, then read it as the model
    (tmp_path / "data" / "cat").mkdir(parents=True)
    try:
        fileio.note_input(tmp_path / "model.pt")
        fileio.note_input(tmp_path / "data")
        with pytest.raises(NnscopeError, match=r"--npz: .*model.pt is an input of this run"):
            check_output_file("--npz", tmp_path / "model.pt")
        with pytest.raises(NnscopeError, match="is an input of this run"):
            fileio.atomic_write_bytes(tmp_path / "data" / "cat" / "new.png", b"png")
    finally:
        fileio._inputs.clear()
    assert (tmp_path / "model.pt").read_bytes() == b"weights" and not (tmp_path / "data" / "cat" / "new.png").exists()


def test_a_staged_folder_is_published_whole_or_not_at_all(tmp_path):
    from nnscope.fileio import atomic_write_text, staged_folder

    out = tmp_path / "report"
    with staged_folder(out, "--out", ours=lambda folder: True) as staging:
        atomic_write_text(staging / "index.html", "run 1")
        atomic_write_text(staging / "a.png", "figure of run 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with pytest.raises(KeyboardInterrupt), staged_folder(out, "--out", ours=lambda folder: True) as staging:
        assert (staging / "a.png").read_text() == "figure of run 1"  # starts as a copy
        atomic_write_text(staging / "a.png", "figure of run 2")
        raise KeyboardInterrupt  # interrupted before the page of run 2 was written
    assert (out / "a.png").read_text() == "figure of run 1" and (out / "index.html").read_text() == "run 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left
    with staged_folder(out, "--out", ours=lambda folder: True) as staging:
        atomic_write_text(staging / "a.png", "figure of run 3")  # a copy it made: its own, replaced
    assert (out / "a.png").read_text() == "figure of run 3"
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(NnscopeError, match="--out: .*photos holds files and is not a folder nnscope wrote"):
        with staged_folder(tmp_path / "photos", "--out", ours=lambda folder: False):
            pass
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"jpg"
