"""Model shapes, the input contract, and checkpoints (round trip, corrupt, foreign, unsafe)."""


from pathlib import Path

import pytest
import torch

from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig, count_parameters, load_model, save_checkpoint


def test_shapes_and_named_conv_layers():
    model = CNN().eval()
    assert model.conv_layer_names == ["conv1", "conv2", "conv3"]
    assert [getattr(model, n).out_channels for n in model.conv_layer_names] == [16, 32, 64]
    logits, acts = model.forward_with_activations(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 10)
    assert acts["conv1"].shape == (5, 16, 28, 28) and acts["relu1"].shape == (5, 16, 14, 14)
    assert acts["conv3"].shape == (5, 64, 7, 7) and acts["relu3"].shape == (5, 64, 7, 7)
    assert (acts["relu2"] >= 0).all()


def test_forward_is_the_manual_layer_by_layer_computation():
    torch.manual_seed(0)
    model = CNN(CNNConfig(channels=(4, 5, 6))).eval()
    for bn in (model.bn1, model.bn2, model.bn3):  # non-trivial batch-norm statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.rand(3, 1, 28, 28)
    h = (x - 0.1307) / 0.3081
    for i, pool in ((1, True), (2, True), (3, False)):
        h = torch.nn.functional.conv2d(h, getattr(model, f"conv{i}").weight, padding=1)
        h = torch.nn.functional.max_pool2d(h, 2) if pool else h
        bn = getattr(model, f"bn{i}")
        h = (h - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        h = torch.relu(h * bn.weight[:, None, None] + bn.bias[:, None, None])
    expected = h.flatten(1) @ model.fc.weight.T + model.fc.bias
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_fewer_than_three_conv_layers_is_refused():
    with pytest.raises(NnscopeError, match="at least 3 conv layers"):
        CNNConfig(channels=(8, 8), pool_after=(True, True))


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = CNN(CNNConfig(channels=(4, 8, 8))).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, train_config={"name": "x"}, metrics={"test_accuracy": 0.5}, seed=7)
    loaded = load_model(path)
    assert not loaded.training and loaded.config == model.config
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    state = torch.load(path, weights_only=True)
    assert state["seed"] == 7 and state["versions"]["torch"] == torch.__version__
    assert count_parameters(loaded) == count_parameters(model)


def test_missing_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(NnscopeError, match=r"no such checkpoint; train one with 'nnscope train --checkpoint"):
        load_model(tmp_path / "none.pt")


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"PK\x03\x04 broken zip"])
def test_corrupt_checkpoint(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(NnscopeError, match="not a readable nnscope checkpoint"):
        load_model(path)


class Exploit:
    """Unpickling this would run code; weights_only=True must refuse it."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_pickle_with_code_is_never_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "nnscope-cnn", "payload": Exploit()}, path)
    with pytest.raises(NnscopeError, match="not a readable nnscope checkpoint"):
        load_model(path)
    assert "code ran" not in capsys.readouterr().out


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(NnscopeError, match="not an nnscope checkpoint"):
        load_model(path)
    model = CNN(CNNConfig(channels=(4, 8, 8)))
    path = tmp_path / "mine.pt"  # nnscope never replaces a file it did not write (other.pt)
    save_checkpoint(path, model, train_config={}, metrics={}, seed=0)
    raw = torch.load(path, weights_only=True)
    raw["model_config"]["channels"] = [5, 8, 8]  # weights no longer fit
    torch.save(raw, path)
    with pytest.raises(NnscopeError, match="do not fit its model config"):
        load_model(path)


def small_checkpoint(path):
    """A version-2 checkpoint of an untrained 4-8-8 CNN, and its contents as torch.load returns them."""
    torch.manual_seed(2)
    save_checkpoint(path, CNN(CNNConfig(channels=(4, 8, 8))), train_config={"name": "x"}, metrics={}, seed=0)
    return torch.load(path, weights_only=True)


def rewrite(path, state, *, fix_checksum=True):
    """Save an edited checkpoint dict, with the checksum of its edited weights unless told otherwise."""
    from nnscope.model import weights_sha256

    if fix_checksum:
        state["weights_sha256"] = weights_sha256(state["state_dict"])
    torch.save(state, path)


def test_checkpoint_stores_the_sha256_of_its_weights(tmp_path):
    import hashlib

    from nnscope.model import weights_sha256

    state = small_checkpoint(tmp_path / "m.pt")
    weights = state["state_dict"]
    oracle = hashlib.sha256()  # the same digest, written out independently
    for name in sorted(weights):
        t = weights[name].contiguous()
        oracle.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode() + t.reshape(-1).view(torch.uint8).numpy().tobytes())
    assert state["format_version"] == 2 and state["weights_sha256"] == oracle.hexdigest() == weights_sha256(weights)
    weights["fc.bias"][3] += 1e-6
    assert weights_sha256(weights) != state["weights_sha256"]


@pytest.mark.parametrize("fix_crc", [False, True])
def test_flipped_bytes_in_the_tensor_data_are_detected(tmp_path, fix_crc):
    import struct
    import zipfile
    import zlib

    path = tmp_path / "m.pt"
    small_checkpoint(path)
    with zipfile.ZipFile(path) as z:  # the largest record holds fc.weight (10 x 392 floats)
        record = max(z.infolist(), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", raw[record.header_offset + 26:record.header_offset + 30])
    start = record.header_offset + 30 + name_length + extra_length  # the local header's own lengths (torch pads)
    raw[start + 1000] ^= 0xFF
    if fix_crc:  # a forger who also rewrites the zip's CRCs (local header and central directory): the sha256 tells
        crc = zlib.crc32(bytes(raw[start:start + record.file_size]))
        raw = bytearray(bytes(raw).replace(struct.pack("<I", record.CRC), struct.pack("<I", crc)))
    path.write_bytes(raw)
    expected = "m.pt: the weights' sha256 differs from the one saved with them" if fix_crc else \
        r"m.pt: archive member .* is damaged"
    with pytest.raises(NnscopeError, match=expected):
        load_model(path)


def test_version_1_checkpoints_without_a_checksum_still_load(tmp_path):
    path = tmp_path / "old.pt"
    state = small_checkpoint(path)
    state["format_version"] = 1
    del state["weights_sha256"]
    rewrite(path, state, fix_checksum=False)
    assert load_model(path).config.channels == (4, 8, 8)
    state["format_version"] = 2
    rewrite(path, state, fix_checksum=False)
    with pytest.raises(NnscopeError, match="no weights checksum"):
        load_model(path)


@pytest.mark.parametrize("edit,words", [
    (lambda s: s.update(model_config=[16, 32, 64]), "field 'model_config' is list, expected a dict"),
    (lambda s: s.update(model_config=None), "field 'model_config' is NoneType, expected a dict"),
    (lambda s: s.update(metrics=[1]), "field 'metrics' is list"),
    (lambda s: s["model_config"].update(classes=3), "classes 3; expected 10"),
    (lambda s: s["model_config"].update(kernel_size=4), "kernel_size 4; expected an odd whole number from 1 to 27"),
    (lambda s: s["model_config"].update(kernel_size="3"), "kernel_size '3'"),
    (lambda s: s["model_config"].update(channels=[4, 0, 8]), "channels [4, 0, 8]; expected a list of whole numbers"),
    (lambda s: s["model_config"].update(channels=[4, 8, 8, 8, 8], pool_after=[True] * 5), "5 pooled layers"),
    (lambda s: s["model_config"].update(pool_after=[1, 1, 0]), "pool_after [1, 1, 0]"),
    (lambda s: s["model_config"].update(depth=3), "unknown model_config field(s) depth"),
    (lambda s: s["state_dict"].pop("bn2.bias"), "missing 'bn2.bias' in the state_dict"),
    (lambda s: s["state_dict"].update(extra=torch.zeros(2)), "unexpected 'extra' in the state_dict"),
    (lambda s: s["state_dict"].update({"fc.weight": torch.zeros(10, 8)}), "'fc.weight' has shape (10, 8), expected (10, 392)"),
    (lambda s: s["state_dict"]["conv2.weight"].view(-1).__setitem__(5, float("nan")), "'conv2.weight' holds NaN or infinite"),
    (lambda s: s["state_dict"]["fc.bias"].__setitem__(0, float("inf")), "'fc.bias' holds NaN or infinite"),
    (lambda s: s["state_dict"]["bn1.running_var"].__setitem__(0, -1.0), "'bn1.running_var' holds negative variances"),
    (lambda s: s["state_dict"].update({"fc.bias": [0.0] * 10}), "entry 'fc.bias' is not a named tensor"),
])
def test_every_part_of_a_checkpoint_is_checked_on_load(tmp_path, edit, words):
    path = tmp_path / "m.pt"
    state = small_checkpoint(path)
    edit(state)
    rewrite(path, state, fix_checksum=all(isinstance(v, torch.Tensor) for v in state["state_dict"].values()))
    with pytest.raises(NnscopeError) as e:
        load_model(path)
    assert words in str(e.value) and str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_text_files_and_torch_warnings_give_one_error_and_no_warning(tmp_path, recwarn):
    path = tmp_path / "notes.pt"
    path.write_text("my notes\n")
    with pytest.raises(NnscopeError, match=r"not a readable nnscope checkpoint \(not a PyTorch zip archive"):
        load_model(path)
    protocol5 = tmp_path / "p5.pt"  # torch warns "Detected pickle protocol 5" before refusing it
    torch.save({"format": "nnscope-cnn", "x": torch.zeros(2)}, protocol5, pickle_protocol=5)
    with pytest.raises(NnscopeError, match=r"pickled with protocol 5, which torch.load\(weights_only=True\) cannot read"):
        load_model(protocol5)
    assert [str(w.message) for w in recwarn] == []


def test_a_file_nnscope_did_not_write_is_never_a_training_target(tmp_path):
    from nnscope.model import check_checkpoint_target

    mine = tmp_path / "weights.pt"
    torch.save(CNN().state_dict(), mine)
    before = mine.read_bytes()
    with pytest.raises(NnscopeError, match=r"--checkpoint: .*weights.pt exists and is not a usable nnscope checkpoint"
                       r" \(not an nnscope checkpoint.*refusing to overwrite it"):
        check_checkpoint_target("--checkpoint", mine)
    assert mine.read_bytes() == before
    small_checkpoint(tmp_path / "ours.pt")
    check_checkpoint_target("--checkpoint", tmp_path / "ours.pt")  # an nnscope checkpoint may be replaced
    check_checkpoint_target("--checkpoint", tmp_path / "new" / "m.pt")  # and a new file written


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_a_model_run_on_another_data_set_says_so(trained_checkpoint, tmp_path, capsys):
    """The MNIST model on Fashion-MNIST: the command runs, and a line says the classes are not the model's."""
    from nnscope.cli import main
    from nnscope.model import load_model

    assert load_model(trained_checkpoint).trained_on == "mnist"
    assert main(["shift", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--dataset", "fashion-mnist",
                 "--no-sweep", "--json"]) in (0, 2)  # 2: no trouser is classified '1'
    err = capsys.readouterr().err
    assert "note: the model was trained on mnist; it now reads fashion-mnist images" in err
