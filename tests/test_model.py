"""Model shapes, the input contract, and checkpoints (round trip, corrupt, foreign, unsafe)."""


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
    save_checkpoint(path, model, train_config={}, metrics={}, seed=0)
    raw = torch.load(path, weights_only=True)
    raw["model_config"]["channels"] = [5, 8, 8]  # weights no longer fit
    torch.save(raw, path)
    with pytest.raises(NnscopeError, match="do not fit its model config"):
        load_model(path)
