"""The loader's guards, each tested with a file that would run code, damage a file or hang if it got through:
TorchScript operators and __setstate__, .pt2 members torch.export.load would unpickle, zip CRCs, the time limit
of the first forward pass, non-finite logits, sys.exit in a model, complex weights, prints at import."""

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import user_nets
from helpers import trained_like
from nnscope.errors import NnscopeError
from nnscope.models import guards, load_model

SRC = Path(__file__).resolve().parents[1] / "src"
VICTIM_TEXT = b"the user's own file\n"


def refused(words, *args, **kwargs) -> str:
    with pytest.raises(NnscopeError) as caught:
        load_model(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


class MapsAFile(nn.Module):
    """Overwrites the first bytes of `victim` through a shared mapping and adds them to its logits."""

    def __init__(self, victim: str):
        super().__init__()
        self.victim = victim
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        mapped = torch.from_file(self.victim, shared=True, size=4, dtype=torch.uint8)
        return self.head(x.flatten(1)[:, :4]) + mapped.fill_(65).float().sum()


class Inner(nn.Module):
    def __init__(self, victim: str):
        super().__init__()
        self.victim = victim

    def forward(self, x):
        return x + torch.from_file(self.victim, size=1, dtype=torch.uint8).float()


class HidesItInASubmodule(nn.Module):
    def __init__(self, victim: str):
        super().__init__()
        self.block = nn.Sequential(nn.Identity(), Inner(victim))

    def forward(self, x):
        return self.block(x.flatten(1)[:, :3])


class SetsState(nn.Module):
    """Its __setstate__ (run by torch.jit.load) writes into `victim`."""

    def __init__(self, victim: str):
        super().__init__()
        self.victim = victim

    def forward(self, x):
        return x.flatten(1)[:, :2]

    @torch.jit.export
    def __getstate__(self):
        return (self.victim, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]):
        self.victim = state[0]
        self.training = state[1]
        torch.from_file(self.victim, shared=True, size=4, dtype=torch.uint8).fill_(66)


class PrintsInForward(nn.Module):
    def forward(self, x):
        print("hello from the model")
        return x.flatten(1)[:, :2]


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM_TEXT)
    return path


@pytest.mark.parametrize("net, where", [(MapsAFile, "the model's forward"), (HidesItInASubmodule, "block.1.forward")])
def test_torchscript_that_reaches_a_file_is_refused_before_it_runs(net, where, tmp_path, victim):
    torch.jit.save(torch.jit.script(net(str(victim))), tmp_path / "m.pt")
    refused([where, "uses aten::from_file", "reads or maps a file"], tmp_path / "m.pt", input_shape=(1, 2, 2))
    assert victim.read_bytes() == VICTIM_TEXT


def test_torchscript_whose_setstate_would_run_at_load_is_refused_unloaded(tmp_path, victim):
    torch.jit.save(torch.jit.script(SetsState(str(victim))), tmp_path / "m.pt")
    assert victim.read_bytes() == VICTIM_TEXT  # saving does not run __setstate__; torch.jit.load would
    refused(["defines __setstate__", "torch.jit.load would run"], tmp_path / "m.pt", input_shape=(1, 2, 2))
    assert victim.read_bytes() == VICTIM_TEXT


def test_torchscript_that_prints_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(PrintsInForward()), tmp_path / "m.pt")
    refused(["uses prim::Print", "prints to the console"], tmp_path / "m.pt", input_shape=(1, 2, 2))


def test_plain_torchscript_still_loads(tmp_path):
    net = trained_like("ResidualNet")
    torch.jit.save(torch.jit.script(net), tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", input_shape=(3, 30, 26))
    x = torch.rand(2, 3, 30, 26)
    torch.testing.assert_close(loaded.module(x), net(x))


class RunsCode:
    """Unpickling this writes a file: what torch.load(weights_only=False) of a hostile member would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def pt2_with_member(source: Path, target: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        top = old.namelist()[0].split("/")[0]
        for info in old.infolist():
            new.writestr(info, old.read(info.filename))
        new.writestr(f"{top}/{member}", data)


@pytest.mark.parametrize("member", ["data/weights/model.pt", "data/constants/model.pt",
                                    "data/constants/custom_obj_0", "data/aotinductor/model/model.so"])
def test_pt2_with_a_member_torch_export_would_unpickle_is_refused_unread(member, tmp_path):
    net = trained_like("OutOfOrder")
    torch.export.save(torch.export.export(net, (torch.rand(1, 1, 5, 5),)), tmp_path / "ok.pt2")
    marker = tmp_path / "marker.txt"
    payload = io.BytesIO()
    torch.save(RunsCode(marker), payload)
    pt2_with_member(tmp_path / "ok.pt2", tmp_path / "bad.pt2", member, payload.getvalue())
    refused([repr(member), "torch.export.load would unpickle or run"], tmp_path / "bad.pt2")
    assert not marker.exists()
    assert load_model(tmp_path / "ok.pt2").conv_layers == ("early", "middle", "late")


def test_torch_load_inside_export_is_forced_to_weights_only(tmp_path):
    marker = tmp_path / "marker.txt"
    payload = io.BytesIO()
    torch.save(RunsCode(marker), payload)
    with guards.weights_only_loads(), pytest.raises(Exception):
        torch.load(io.BytesIO(payload.getvalue()), weights_only=False)
    assert not marker.exists() and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def flip_a_data_byte(path: Path) -> None:
    """Invert one byte inside the largest member's data, leaving the zip's directory intact."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        record = max(z.infolist(), key=lambda i: i.file_size)
        start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    raw[start + record.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_flipped_bit_in_any_archive_is_refused(tmp_path):
    net = trained_like("VGGStyle")
    torch.jit.save(torch.jit.script(net), tmp_path / "m.pt")
    flip_a_data_byte(tmp_path / "m.pt")
    refused(["archive member", "is damaged", "changed after it was saved"], tmp_path / "m.pt", input_shape=(3, 32, 32))
    torch.export.save(torch.export.export(net, (torch.rand(1, 3, 32, 32),)), tmp_path / "m.pt2")
    flip_a_data_byte(tmp_path / "m.pt2")
    refused(["archive member", "is damaged"], tmp_path / "m.pt2")
    nets = tmp_path / "nets.py"
    nets.write_bytes(Path(user_nets.__file__).read_bytes())
    torch.save(net.state_dict(), tmp_path / "w.pt")
    flip_a_data_byte(tmp_path / "w.pt")
    refused(["--weights", "is damaged"], f"{nets}:VGGStyle", tmp_path / "w.pt", input_shape=(3, 32, 32))


def test_a_format_1_checkpoint_with_a_flipped_bit_is_refused(tmp_path):
    from nnscope.model import CNN, CNNConfig, read_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "c.pt", CNN(CNNConfig(channels=(4, 8, 8))), train_config={}, metrics={}, seed=0)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    state["format_version"] = 1  # written before the checksum existed: only the zip's CRCs can tell
    state.pop("weights_sha256", None)
    torch.save(state, tmp_path / "c.pt")
    read_checkpoint(tmp_path / "c.pt")
    flip_a_data_byte(tmp_path / "c.pt")
    with pytest.raises(NnscopeError, match="is damaged"):
        read_checkpoint(tmp_path / "c.pt")


def test_an_archive_declaring_more_than_its_limit_is_refused_unread(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/data.pkl", b"\0" * 300_000_000)  # 300 MB of zeros deflate to about 300 KB
    refused(["declares 286.1 MiB of contents", "200 times the file's size"], tmp_path / "bomb.pt", input_shape=(1, 2, 2))


class WaitsForever(nn.Module):
    """A forward that does not return until `release` is set (the test sets it after its check)."""

    release = threading.Event()

    def forward(self, x):
        WaitsForever.release.wait(60)
        return x.flatten(1)[:, :2]


class ExitsInForward(nn.Module):
    def forward(self, x):
        sys.exit(0)


class NotANumber(nn.Module):
    def forward(self, x):
        logits = x.flatten(1)[:, :3].clone()
        logits[1, 2] = float("nan")
        return logits


def module_file(tmp_path: Path, name: str, source: str) -> str:
    (tmp_path / "m.py").write_text("import sys, threading\nimport torch\nfrom torch import nn\n\n" + source)
    return f"{tmp_path / 'm.py'}:{name}"


def test_a_forward_that_never_returns_ends_in_one_line(monkeypatch):
    monkeypatch.setattr(guards, "PROBE_TIME_LIMIT_S", 0.5)
    import nnscope.models.loaded as loaded_module

    monkeypatch.setattr(loaded_module, "read_network", lambda spec, weights: guards_network(WaitsForever()))
    try:
        refused(["did not return within 0.5 s", "expected a forward pass that ends"], "waits", input_shape=(1, 2, 2))
    finally:
        WaitsForever.release.set()


def guards_network(module):
    from nnscope.models.formats import Network

    return Network(module.eval(), "python", "m.py:Net")


def test_sys_exit_and_non_finite_logits_are_one_line(monkeypatch):
    import nnscope.models.loaded as loaded_module

    monkeypatch.setattr(loaded_module, "read_network", lambda spec, weights: guards_network(ExitsInForward()))
    refused(["called sys.exit(0) in its forward pass"], "exits", input_shape=(1, 2, 2))
    monkeypatch.setattr(loaded_module, "read_network", lambda spec, weights: guards_network(NotANumber()))
    refused(["returned nan at image 1, logit 2", "(1 of 6 logits not finite)", "expected finite logits"], "nan",
            input_shape=(1, 2, 2))


def test_std_that_overflows_is_refused_as_non_finite(tmp_path):
    spec = module_file(tmp_path, "Net", "class Net(nn.Module):\n    def forward(self, x):\n"
                                        "        return x.flatten(1)[:, :3]\n")
    refused(["returned inf at image 0, logit 0", "expected finite logits"], spec, input_shape=(1, 2, 2),
            mean=[0.0], std=[1e-300])


def test_complex_weights_are_refused(tmp_path):
    spec = module_file(tmp_path, "Net", "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                        "        self.head = nn.Linear(4, 2)\n    def forward(self, x):\n"
                                        "        return self.head(x.flatten(1)[:, :4])\n")
    torch.save({"head.weight": torch.ones(2, 4, dtype=torch.complex64), "head.bias": torch.zeros(2)}, tmp_path / "w.pt")
    refused(["--weights", "'head.weight' holds complex numbers", "expects real values"], spec, tmp_path / "w.pt",
            input_shape=(1, 2, 2))


def test_devices_pipes_and_folders_are_named_for_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refused(["--model", "is not a regular file"], tmp_path / "pipe", input_shape=(1, 2, 2))
    refused(["--model", "is not a regular file"], "/dev/zero", input_shape=(1, 2, 2))
    spec = module_file(tmp_path, "Net", "class Net(nn.Module):\n    def forward(self, x):\n"
                                        "        return x.flatten(1)[:, :3]\n")
    refused(["--class-names: /dev/zero is a folder, a device or a pipe"], spec, input_shape=(1, 2, 2),
            class_names="/dev/zero")
    refused(["--weights: /dev/zero is a folder, a device or a pipe"], spec, "/dev/zero", input_shape=(1, 2, 2))


def test_a_model_that_prints_keeps_json_clean(tmp_path):
    (tmp_path / "m.py").write_text("import torch\nfrom torch import nn\nprint('importing my model')\n\n"
                                   "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                   "        print('building')\n        self.conv = nn.Conv2d(1, 2, 3)\n\n"
                                   "    def forward(self, x):\n        print('forward')\n"
                                   "        return self.conv(x).mean((2, 3))\n")
    env = {**os.environ, "PYTHONPATH": str(SRC), "NNSCOPE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "nnscope", "layers", "--model", f"{tmp_path / 'm.py'}:Net",
                           "--input-shape", "1", "8", "8", "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["classes"] == 2
    assert "importing my model" in done.stderr and "building" in done.stderr


def test_torch_export_logs_nothing_when_it_cannot_read_a_program(tmp_path, capfd):
    net = trained_like("OutOfOrder")
    torch.export.save(torch.export.export(net, (torch.rand(1, 1, 5, 5),)), tmp_path / "ok.pt2")
    with zipfile.ZipFile(tmp_path / "ok.pt2") as old, zipfile.ZipFile(tmp_path / "bad.pt2", "w") as new:
        for info in old.infolist():  # without its sample inputs: torch logs a traceback, then raises
            if "/data/sample_inputs/" not in info.filename:
                new.writestr(info, old.read(info.filename))
    capfd.readouterr()
    refused(["torch.export program torch.export.load cannot read"], tmp_path / "bad.pt2")
    assert capfd.readouterr().err == ""  # torch's logged traceback stays off stderr
