"""Bad input of every kind, through the real command line: exit code 2, exactly one line on stderr that says
what is wrong, no traceback, nothing on stdout, and every file that existed before is byte-identical after.

One row of TABLE is one case: the arguments (``{d}`` is the case's own folder, also the working folder and
$NNSCOPE_HOME), the files to create there (name -> bytes, or a function of the folder that writes them)
and a piece of the expected message. To add a case, add a row. The commands run as subprocesses, a few at a
time, once per module; each test then checks its row.
"""

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from nnscope.model import CNN, CNNConfig, save_checkpoint, weights_sha256
from nnscope.recurrent.params import PROBLEM3

SRC = Path(__file__).resolve().parents[1] / "src"


# ---- files the cases are made of ----------------------------------------------------------------

def checkpoint(edit: Callable[[dict], None] | None = None, fix_checksum: bool = True) -> Callable[[Path], bytes]:
    """The bytes of a small nnscope checkpoint (untrained 4-8-8 CNN), edited by `edit` before saving."""
    def make(folder: Path) -> bytes:
        path = folder / ".make.pt"
        torch.manual_seed(0)
        save_checkpoint(path, CNN(CNNConfig(channels=(4, 8, 8))), train_config={"name": "fast"},
                        metrics={"dataset": "mnist"}, seed=0)
        if edit is not None:
            state = torch.load(path, weights_only=True)
            edit(state)
            if fix_checksum:
                state["weights_sha256"] = weights_sha256(state["state_dict"])
            torch.save(state, path)
        raw = path.read_bytes()
        path.unlink()
        return raw
    return make


def flipped_checkpoint(folder: Path) -> bytes:
    """A good checkpoint with one byte of fc.weight's data inverted: its zip CRC no longer matches."""
    raw = bytearray(checkpoint()(folder))
    (folder / ".z.pt").write_bytes(raw)
    with zipfile.ZipFile(folder / ".z.pt") as z:
        record = max(z.infolist(), key=lambda i: i.file_size)
        start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    (folder / ".z.pt").unlink()
    raw[start + 777] ^= 0xFF
    return bytes(raw)


def complex_weights() -> bytes:
    buffer = io.BytesIO()
    torch.save({"1.weight": torch.ones(2, 4, dtype=torch.complex64), "1.bias": torch.zeros(2)}, buffer)
    return buffer.getvalue()


def state_dict_file(folder: Path) -> bytes:
    """A user's own PyTorch state dict: a valid torch file that nnscope did not write."""
    torch.save(CNN().state_dict(), folder / ".sd.pt")
    raw = (folder / ".sd.pt").read_bytes()
    (folder / ".sd.pt").unlink()
    return raw


def protocol5_file(folder: Path) -> bytes:
    """A torch file pickled with protocol 5, on which torch.load warns before refusing it."""
    torch.save({"format": "nnscope-cnn", "x": torch.zeros(2)}, folder / ".p5.pt", pickle_protocol=5)
    raw = (folder / ".p5.pt").read_bytes()
    (folder / ".p5.pt").unlink()
    return raw


def legacy_file(folder: Path) -> bytes:
    """A state dict saved in torch's format before zip archives (a pickle stream)."""
    torch.save({"w": torch.zeros(3)}, folder / ".legacy.pt", _use_new_zipfile_serialization=False)
    raw = (folder / ".legacy.pt").read_bytes()
    (folder / ".legacy.pt").unlink()
    return raw


def idx(array: np.ndarray) -> bytes:
    return struct.pack(">I", 0x800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def idx_folder(damage: str) -> Callable[[Path], None]:
    """The four gzipped IDX files (black images, labels 0) in folder/idx, with one kind of damage."""
    def make(folder: Path) -> None:
        (folder / "idx").mkdir()
        for images, labels, n in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
                                  ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000)):
            image_bytes = gzip.compress(idx(np.zeros((n, 28, 28), np.uint8)), 1)
            label_array = np.zeros(n, np.uint8)
            if damage == "middle" and n == 60_000:
                middle = len(image_bytes) // 2  # inside a deflate block: zlib.error, not a CRC failure
                image_bytes = image_bytes[:middle] + bytes([image_bytes[middle] ^ 0xFF]) + image_bytes[middle + 1:]
            if damage == "huge" and n == 60_000:
                image_bytes = gzip.compress(struct.pack(">4I", 0x803, 2**32 - 1, 28, 28) + bytes(64))
            if damage == "label" and n == 10_000:
                label_array[123] = 99
            (folder / "idx" / f"{images}.gz").write_bytes(image_bytes)
            (folder / "idx" / f"{labels}.gz").write_bytes(gzip.compress(idx(label_array)))
    return make


def params(**fields) -> bytes:
    return json.dumps({**PROBLEM3, **fields}).encode()


def config_edit(**fields) -> Callable[[dict], None]:
    return lambda state: state["model_config"].update(fields)


def set_entry(name: str, value: float) -> Callable[[dict], None]:
    return lambda state: state["state_dict"][name].view(-1).__setitem__(0, value)


def scripted_file_reader(folder: Path) -> bytes:
    """A TorchScript model whose forward maps folder/victim.txt shared and writes into it."""
    from test_model_guards import MapsAFile

    torch.jit.save(torch.jit.script(MapsAFile(str(folder / "victim.txt"))), folder / ".m.pt")
    raw = (folder / ".m.pt").read_bytes()
    (folder / ".m.pt").unlink()
    return raw


def scripted_flipped(folder: Path) -> bytes:
    """A plain TorchScript model with one byte of its largest member's data inverted (CRC no longer matches)."""
    from test_model_guards import flip_a_data_byte

    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 300))), folder / ".m.pt")
    flip_a_data_byte(folder / ".m.pt")
    raw = (folder / ".m.pt").read_bytes()
    (folder / ".m.pt").unlink()
    return raw


def pt2_unpickling(folder: Path) -> bytes:
    """A torch.export program with a legacy weights member whose unpickling would write folder/victim.txt."""
    from test_model_guards import RunsCode, pt2_with_member

    program = torch.export.export(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)),
                                  (torch.rand(1, 1, 2, 2),))
    torch.export.save(program, folder / ".ok.pt2")
    payload = io.BytesIO()
    torch.save(RunsCode(folder / "victim.txt"), payload)
    pt2_with_member(folder / ".ok.pt2", folder / ".bad.pt2", "data/weights/model.pt", payload.getvalue())
    raw = (folder / ".bad.pt2").read_bytes()
    for name in (".ok.pt2", ".bad.pt2"):
        (folder / name).unlink()
    return raw


def python_model(forward: str) -> bytes:
    """A model file whose Net's forward is `forward` (one statement, x the batch)."""
    return (f"import sys\nimport torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
            f"    def forward(self, x):\n        {forward}\n").encode()


def png_bomb(folder: Path) -> bytes:
    from test_size_limits import png_declaring

    return png_declaring(50_000, 50_000)


def npy_lying(folder: Path) -> bytes:
    from test_size_limits import npy_header

    return npy_header((60_000, 60_000, 3), "|u1")


def npz_labels(folder: Path) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((2, 4, 4), np.uint8), labels=np.array([0, 10**12]))
    return buffer.getvalue()


def grey_png(size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(size * size, dtype=np.uint8).reshape(size, size) * 7).save(buffer, format="PNG")
    return buffer.getvalue()


def image_folder(folder: Path) -> None:
    """An ImageFolder tree imgs/<class>/<images> of three classes."""
    for name in ("a", "b", "c"):
        (folder / "imgs" / name).mkdir(parents=True)
        (folder / "imgs" / name / "1.png").write_bytes(grey_png())


def npz_never_right(folder: Path) -> bytes:
    """Black images labelled 1 and 2: LOGITS gives them logits 0, 0, 0, so the model says '0' for every one."""
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((4, 16, 16), np.uint8), labels=np.array([1, 2, 1, 2]))
    return buffer.getvalue()


VICTIM = {"victim.txt": b"the user's own file\n"}
LOGITS = python_model("return x.flatten(1)[:, :3]")


# ---- the table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    expect: str  # a piece of the one line on stderr
    files: dict = field(default_factory=dict)  # name -> bytes, or folder -> bytes; a None key: folder -> None


TEXT = {"notes.txt": b"my notes, not a checkpoint\n"}
FOREIGN = {"mine.pt": state_dict_file}

TABLE = [
    # checkpoints: loaded by any analysis before anything else
    Case("ckpt-text", ["filters", "--checkpoint", "notes.txt"], "notes.txt: not a model nnscope can read", TEXT),
    Case("ckpt-empty", ["featuremaps", "--checkpoint", "e.pt"], "e.pt: an empty file; expected an nnscope checkpoint",
         {"e.pt": b""}),
    Case("ckpt-truncated", ["filters", "--checkpoint", "t.pt"], "t.pt: a damaged archive, truncated",
         {"t.pt": lambda d: checkpoint()(d)[:3000]}),
    Case("ckpt-last-byte-cut", ["layers", "--model", "t.pt"], "t.pt: a damaged archive, truncated",
         {"t.pt": lambda d: checkpoint()(d)[:-1]}),
    Case("ckpt-legacy-truncated", ["layers", "--model", "t.pt"], "t.pt: a damaged torch.save file of the format "
         "before zip archives: truncated or changed", {"t.pt": lambda d: legacy_file(d)[:40]}),
    Case("weights-truncated", ["layers", "--model", "m.py:Net", "--weights", "w.pt", "--input-shape", "1", "2", "2"],
         "--weights: w.pt: a damaged archive, truncated", {"m.py": LOGITS, "w.pt": lambda d: state_dict_file(d)[:500]}),
    Case("weights-protocol5", ["layers", "--model", "m.py:Net", "--weights", "w.pt", "--input-shape", "1", "2", "2"],
         "--weights: w.pt: pickled with protocol 5, which torch.load(weights_only=True) cannot read",
         {"m.py": LOGITS, "w.pt": protocol5_file}),
    Case("ckpt-foreign", ["shift", "--checkpoint", "mine.pt"], "mine.pt holds weights only (a state dict)", FOREIGN),
    Case("ckpt-protocol5", ["filters", "--checkpoint", "p5.pt"], "p5.pt: pickled with protocol 5, which "
         "torch.load(weights_only=True) cannot read", {"p5.pt": protocol5_file}),
    Case("ckpt-config-list", ["filters", "--checkpoint", "m.pt"], "field 'model_config' is list",
         {"m.pt": checkpoint(lambda s: s.update(model_config=[16, 32, 64]))}),
    Case("ckpt-config-null", ["filters", "--json", "--checkpoint", "m.pt"], "field 'model_config' is NoneType",
         {"m.pt": checkpoint(lambda s: s.update(model_config=None))}),
    Case("ckpt-classes", ["occlude", "--checkpoint", "m.pt"], "classes 3; expected 10",
         {"m.pt": checkpoint(config_edit(classes=3))}),
    Case("ckpt-kernel", ["featuremaps", "--checkpoint", "m.pt"], "kernel_size 4; expected an odd whole number",
         {"m.pt": checkpoint(config_edit(kernel_size=4))}),
    Case("ckpt-nan", ["filters", "--json", "--checkpoint", "m.pt"], "'fc.weight' holds NaN or infinite values",
         {"m.pt": checkpoint(set_entry("fc.weight", float("nan")))}),
    Case("ckpt-inf", ["shift", "--json", "--checkpoint", "m.pt"], "'bn3.bias' holds NaN or infinite values",
         {"m.pt": checkpoint(set_entry("bn3.bias", float("-inf")))}),
    Case("ckpt-missing-key", ["filters", "--checkpoint", "m.pt"], "missing 'bn2.bias' in the state_dict",
         {"m.pt": checkpoint(lambda s: s["state_dict"].pop("bn2.bias"))}),
    Case("ckpt-shape", ["filters", "--checkpoint", "m.pt"], "'conv1.weight' has shape (5, 1, 3, 3), expected (4, 1, 3, 3)",
         {"m.pt": checkpoint(lambda s: s["state_dict"].update({"conv1.weight": torch.zeros(5, 1, 3, 3)}))}),
    Case("ckpt-flipped", ["filters", "--checkpoint", "m.pt"], "is damaged", {"m.pt": flipped_checkpoint}),
    Case("ckpt-folder", ["filters", "--checkpoint", "{d}"], "is a folder; expected a model file"),
    # output paths: checked before any work, naming the option and the user's path
    Case("report-foreign-checkpoint", ["report", "--checkpoint", "mine.pt"], "refusing to overwrite it", FOREIGN),
    Case("report-checkpoint-proc", ["report", "--checkpoint", "/proc/x.pt"], "--checkpoint: the folder /proc is not writable"),
    Case("report-out-file", ["report", "--out", "notes.txt"], "--out: notes.txt is a file; expected a folder", TEXT),
    Case("train-checkpoint-folder", ["train", "--checkpoint", "{d}"], "--checkpoint: {d} is a folder; expected a file name"),
    Case("train-checkpoint-proc", ["train", "--checkpoint", "/proc/x.pt"], "so /proc/x.pt cannot be written"),
    Case("train-foreign-checkpoint", ["train", "--checkpoint", "mine.pt"], "exists and is not a usable nnscope", FOREIGN),
    Case("train-parent-is-file", ["train", "--checkpoint", "notes.txt/m.pt"], "cannot create the folder notes.txt (", TEXT),
    Case("filters-out-file", ["filters", "--model", "m.py:Net", "--input-shape", "1", "2", "2", "--out", "notes.txt"],
         "--out: notes.txt is a file; expected a folder", {**TEXT, "m.py": LOGITS}),
    Case("filters-out-model-file", ["filters", "--model", "m.py:Net", "--input-shape", "1", "2", "2", "--out", "m.py"],
         "--out: m.py is a file; expected a folder", {"m.py": LOGITS}),
    Case("longseq-out-file", ["longseq", "--out", "notes.txt"], "--out: notes.txt is a file", TEXT),
    Case("longseq-out-proc", ["longseq", "--out", "/proc/1/out"], "--out: the folder /proc/1 is not writable"),
    Case("occlude-npz-folder", ["occlude", "--all", "--npz", "{d}"], "--npz: {d} is a folder; expected a file name"),
    # data files
    Case("idx-gzip-middle", ["data", "--data-dir", "idx"], "train-images-idx3-ubyte.gz: damaged gzip data",
         {None: idx_folder("middle")}),
    Case("idx-huge", ["data", "--data-dir", "idx"], "(a header no file can match)", {None: idx_folder("huge")}),
    Case("idx-label-99", ["data", "--data-dir", "idx"], "t10k-labels-idx1-ubyte.gz: label 99 found",
         {None: idx_folder("label")}),
    Case("idx-no-folder", ["train", "--data-dir", "none"], "--data-dir: none is not a folder"),
    # parameter files and FASTA
    Case("params-400-digits", ["rnn", "--params", "p.json"], "an integer of 400 digits",
         {"p.json": params(b=["BIG", 1]).replace(b'"BIG"', b"7" * 400)}),
    Case("params-deep", ["lstm", "--params", "p.json"], "nested too deeply",
         {"p.json": params(W="DEEP").replace(b'"DEEP"', b"[" * 100_000 + b"]" * 100_000)}),
    Case("params-not-utf8", ["rnn", "--params", "p.json"], "not UTF-8 text (byte 0xff", {"p.json": b'{"b": "\xff"}'}),
    Case("params-nan", ["rnn", "--json", "--params", "p.json"], "field 'learning_rate': NaN found",
         {"p.json": params(learning_rate=float("nan"))}),
    Case("params-n-5000", ["rnn", "--params", "p.json"], "n = 5000 is beyond the size limit n <= 256",
         {"p.json": params(b=[0.0] * 5000)}),
    Case("params-epsilon", ["rnn", "--params", "p.json"], "field 'epsilon': 1e-320 found, expected a positive finite "
         "number from 1e-10 to 1", {"p.json": params(epsilon=1e-320)}),
    Case("longseq-lengths-huge", ["longseq", "--lengths", "1000000000"],
         "--lengths: 1000000000; expected a whole number of residues from 7 to 100000"),
    Case("longseq-set-huge", ["longseq", "--train-count", "100000", "--train-length", "10000"],
         "--train-count 100000 x --train-length 10000: 1000000000 residues; the limit is 134217728"),
    Case("fasta-lone-star", ["longseq", "--fasta", "s.fa"], "record 'b' has no residues",
         {"s.fa": b">a 1\nMKV\n>b 0\n*\n>c 1\nMK\n>d 0\nKK\n"}),
    Case("fasta-three-records", ["longseq", "--fasta", "s.fa"], "FASTA file s.fa: expected at least 4 records",
         {"s.fa": b">a 1\nMKV\n>b 0\nKK\n>c 1\nMK\n"}),
    # options
    Case("unknown-option", ["shift", "--foo"], "nnscope shift: error: unrecognized arguments: --foo"),
    Case("shift-pixels", ["shift", "--pixels", "-1"], "--pixels: -1"),
    Case("occlude-stride", ["occlude", "--stride", "9"], "--stride: 9 pixels is more than the patch's 8"),
    # model files that would run code, hang or lie
    Case("script-maps-a-file", ["layers", "--model", "m.pt", "--input-shape", "1", "2", "2"],
         "uses aten::from_file, which reads or maps a file", {**VICTIM, "m.pt": scripted_file_reader}),
    Case("pt2-legacy-pickle", ["layers", "--json", "--model", "m.pt2"],
         "holds 'data/weights/model.pt', which torch.export.load would unpickle or run",
         {**VICTIM, "m.pt2": pt2_unpickling}),
    Case("script-flipped-bit", ["layers", "--model", "m.pt", "--input-shape", "1", "2", "2"], "is damaged",
         {"m.pt": scripted_flipped}),
    Case("model-exits-0", ["layers", "--json", "--model", "m.py:Net", "--input-shape", "1", "4", "4"],
         "called sys.exit(0) in its forward pass", {"m.py": python_model("sys.exit(0)")}),
    Case("model-nan", ["layers", "--model", "m.py:Net", "--input-shape", "1", "4", "4"],
         "returned nan at image 0, logit 0", {"m.py": python_model("return x.flatten(1)[:, :3] * float('nan')")}),
    Case("model-std-tiny", ["layers", "--model", "m.py:Net", "--input-shape", "1", "4", "4", "--mean", "0",
                            "--std", "1e-300"], "returned inf at image 0", {"m.py": LOGITS}),
    Case("model-nan-after-probe", ["shift", "--json", "--model", "m.py:Net", "--image", "i.png", "--no-sweep"],
         "returned nan at image 0, logit 0", {"i.png": grey_png(), "m.py": python_model(
             "return x.flatten(1)[:, :3] * (1.0 if len(x) <= 2 else float('nan'))")}),  # the probes' batches: 2 and 1
    Case("model-one-logit", ["layers", "--model", "m.py:Net", "--input-shape", "1", "2", "2"],
         "returned one logit per image", {"m.py": python_model("return x.flatten(1)[:, :1]")}),
    Case("model-batch-statistics", ["layers", "--model", "m.py:Net", "--input-shape", "1", "2", "2"],
         "gives an image other logits alone than in a batch of 2", {"m.py": python_model(
             "return x.flatten(1)[:, :3] - x.flatten(1)[:, :3].mean(0)")}),
    Case("model-dev-zero", ["layers", "--model", "/dev/zero"], "--model: /dev/zero is not a regular file"),
    Case("class-names-dev-zero", ["layers", "--model", "m.py:Net", "--input-shape", "1", "4", "4",
                                  "--class-names", "/dev/zero"], "--class-names: /dev/zero is a folder, a device or a pipe",
         {"m.py": LOGITS}),
    Case("complex-weights", ["layers", "--model", "m.py:Net", "--weights", "w.pt", "--input-shape", "1", "2", "2"],
         "'1.weight' holds complex numbers", {"m.py": b"from torch import nn\nNet = lambda: nn.Sequential(nn.Flatten(), "
                                              b"nn.Linear(4, 2))\n", "w.pt": lambda folder: complex_weights()}),
    # images and data that would exhaust memory
    Case("image-bomb", ["layers", "--model", "m.py:Net", "--image", "bomb.png"], "the limit is 67108864 pixels",
         {"m.py": LOGITS, "bomb.png": png_bomb}),
    Case("image-npy-lies", ["layers", "--model", "m.py:Net", "--image", "x.npy"], "the limit is 4.0 GiB for one array",
         {"m.py": LOGITS, "x.npy": npy_lying}),
    Case("image-folder", ["layers", "--model", "m.py:Net", "--image", "{d}"], "is a folder, a device or a pipe",
         {"m.py": LOGITS}),
    Case("data-label-huge", ["shift", "--model", "m.py:Net", "--data", "d.npz"], "expected labels below 100000",
         {"m.py": LOGITS, "d.npz": npz_labels}),
    # NaN logits on the data's grey images, an error on RGB: the NaN is named, not the RGB retry's error
    Case("model-nan-on-the-data", ["occlude", "--model", "m.py:Net", "--data", "d.npz"],
         "on a (2, 1, 16, 16) input returned nan at image 0, logit 0", {"m.py": python_model(
             "assert x.shape[1] == 1; return x.flatten(1)[:, :3] * float('nan')"), "d.npz": npz_never_right}),
    # writes that would destroy a file nnscope did not write, or an input of the run
    Case("npz-onto-checkpoint", ["occlude", "--all", "--npz", "m.pt", "--checkpoint", "m.pt"],
         "--npz: m.pt exists and was not written by nnscope", {"m.pt": checkpoint()}),
    Case("out-inside-data", ["shift", "--model", "m.py:Net", "--data", "imgs", "--out", "imgs/a"],
         "--out: imgs/a is inside --data imgs; nnscope never writes into your data", {"m.py": LOGITS, None: image_folder}),
    Case("out-is-data", ["occlude", "--model", "m.py:Net", "--data", "imgs", "--out", "imgs"],
         "--out: imgs is inside --data imgs", {"m.py": LOGITS, None: image_folder}),
    # a data set the model gets wholly wrong: the data is named, not an option the user never gave
    Case("data-never-right-shift", ["shift", "--model", "m.py:Net", "--data", "d.npz"],
         "--data: the model classifies no image of", {"m.py": LOGITS, "d.npz": npz_never_right}),
    Case("data-never-right-attack", ["attack", "--model", "m.py:Net", "--data", "d.npz"],
         "--data: the model classifies no image of", {"m.py": LOGITS, "d.npz": npz_never_right}),
    Case("npz-onto-notes", ["occlude", "--all", "--npz", "notes.txt"], "refusing to replace it", TEXT),
]


# ---- running them ----------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_case(case: Case, folder: Path) -> dict:
    """Create the case's files in `folder`, run the command there, and return what came out."""
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        made = content(folder) if callable(content) else content
        if name is not None:
            (folder / name).write_bytes(made)
    before = snapshot(folder)
    argv = [a.replace("{d}", str(folder)) for a in case.argv]
    env = {**os.environ, "PYTHONPATH": str(SRC), "NNSCOPE_HOME": str(folder), "COLUMNS": "60"}  # 60: catch wrapping
    done = subprocess.run([sys.executable, "-m", "nnscope", *argv], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    return {"folder": str(folder), "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "before": before,
            "after": {k: v for k, v in snapshot(folder).items() if k in before}}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Every case run once, three at a time (each pays about two seconds of imports)."""
    root = tmp_path_factory.mktemp("sweep")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {case.name: pool.submit(run_case, case, root / case.name) for case in TABLE}
        return {name: future.result() for name, future in futures.items()}


def test_case_names_are_unique():
    assert len({c.name for c in TABLE}) == len(TABLE)


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c.name)
def test_bad_input_gives_one_line_and_loses_nothing(outcomes, case):
    out = outcomes[case.name]
    command = case.argv[0]
    lines = out["stderr"].splitlines()
    assert out["rc"] == 2, out["stderr"][-2000:]
    assert "Traceback" not in out["stderr"] and len(lines) == 1, out["stderr"][-2000:]
    assert out["stdout"] == ""
    line = lines[0]
    assert line.startswith(f"nnscope {command}: error: ") and "\x1b" not in line, line
    assert case.expect.replace("{d}", out["folder"]) in line, line
    assert ".tmp" not in line and ".nnscope-probe" not in line, line
    assert out["after"] == out["before"], "a file that existed before was changed or removed"


def test_an_error_is_one_plain_line_whatever_the_reason_holds(capsys):
    from nnscope.cli.common import error_line, print_error

    reason = "bad \x1b[31mred\x1b[0m value\nsecond line\tand a tab " + "long " * 40
    line = error_line("nnscope shift", reason)
    assert line == "nnscope shift: error: bad red value second line and a tab " + "long " * 39 + "long\n"
    print_error("rnn", "one\r\ntwo")
    assert capsys.readouterr().err == "nnscope rnn: error: one two\n"
