"""`load_model`: every format read back gives the original's outputs; conv layers in forward order;
every bad input one NnscopeError naming what is wrong."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import user_nets
from helpers import trained_like
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig, save_checkpoint
from nnscope.models import load_model

NETS = {  # name -> (input shape, classes, conv layers in forward order)
    "ResidualNet": ((3, 30, 26), 5, ("stem", "layer1.conv_a", "layer1.conv_b", "layer1.shortcut.0",
                                     "layer2.conv_a", "layer2.conv_b", "layer2.shortcut.0")),
    "DilatedGroupedNet": ((1, 28, 28), 4, ("dilated", "grouped", "depthwise")),
    "VGGStyle": ((3, 32, 32), 10, ("features.0", "features.2", "features.5")),
    "OutOfOrder": ((1, 12, 9), 2, ("early", "middle", "late")),
}
FIXED_SIZE = {"ResidualNet": False, "DilatedGroupedNet": True, "VGGStyle": True, "OutOfOrder": False}


@pytest.fixture
def nets_file(tmp_path) -> Path:
    """tests/user_nets.py copied as a user's model file."""
    path = tmp_path / "user" / "nets.py"
    path.parent.mkdir()
    shutil.copy(Path(user_nets.__file__), path)
    return path


def save_as(fmt: str, name: str, net, folder: Path, nets_file: Path) -> tuple[str, Path | None]:
    """(spec, weights) of `net` saved in format `fmt`."""
    shape = NETS[name][0]
    if fmt == "script":
        torch.jit.save(torch.jit.script(net), folder / "model.pt")
        return str(folder / "model.pt"), None
    if fmt == "trace":
        torch.jit.save(torch.jit.trace(net, torch.rand(2, *shape)), folder / "model.pt")
        return str(folder / "model.pt"), None
    if fmt == "export":
        batch = torch.export.Dim("batch", min=1, max=1024)
        program = torch.export.export(net, (torch.rand(2, *shape),), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, folder / "model.pt2")
        return str(folder / "model.pt2"), None
    if fmt == "state_dict":
        torch.save(net.state_dict(), folder / "weights.pt")
        return f"{nets_file}:{name}", folder / "weights.pt"
    save_file(net.state_dict(), folder / "weights.safetensors")
    return f"{nets_file}:{name}", folder / "weights.safetensors"


@pytest.mark.parametrize("fmt", ["script", "trace", "export", "state_dict", "safetensors"])
@pytest.mark.parametrize("name", list(NETS))
def test_every_format_reads_back_the_same_model(name, fmt, tmp_path, nets_file):
    net = trained_like(name)
    shape, classes, convs = NETS[name]
    spec, weights = save_as(fmt, name, net, tmp_path, nets_file)
    given_shape = None if fmt == "export" else shape  # an exported program knows its own input size
    loaded = load_model(spec, weights, input_shape=given_shape)
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x), rtol=0, atol=1e-5)
    assert loaded.input_shape == shape and loaded.classes == classes
    assert loaded.conv_layers == convs
    assert loaded.class_names == tuple(str(k) for k in range(classes))
    assert not loaded.network.training and not loaded.module.training
    if fmt != "export":  # the exported program's H and W are fixed at export
        assert loaded.fixed_size == FIXED_SIZE[name]


def test_layer_table_measures_shapes_and_parameters(tmp_path, nets_file):
    loaded = load_model(f"{nets_file}:ResidualNet", input_shape=(3, 30, 26))
    layers = {layer["name"]: layer for layer in loaded.layers}
    assert layers["stem"]["output_shape"] == [8, 30, 26] and layers["stem"]["parameters"] == 8 * 3 * 9 + 8
    assert layers["layer1.conv_a"]["output_shape"] == [16, 15, 13]  # stride 2, padding 1: ceil(30/2), ceil(26/2)
    assert layers["layer2.shortcut.0"]["output_shape"] == [16, 8, 7]
    assert layers[""]["output_shape"] == [5] and layers["layer1"]["parameters"] == 0
    assert layers["layer1"]["total_parameters"] == sum(p.numel() for p in loaded.network.layer1.parameters())
    assert sum(layer["parameters"] for layer in loaded.layers) == sum(p.numel() for p in loaded.network.parameters())
    # call order: the block starts before its convs, and the shortcut after conv_b, as forward() runs them
    order = {n: layer["call_order"] for n, layer in layers.items()}
    assert order[""] == 0 < order["stem"] < order["layer1"] < order["layer1.conv_a"] < order["layer1.conv_b"] \
        < order["layer1.shortcut"] < order["layer2"]


def test_nnscope_checkpoint_is_delegated_to_its_loader(tmp_path):
    torch.manual_seed(0)
    cnn = CNN(CNNConfig()).eval()
    path = save_checkpoint(tmp_path / "cnn.pt", cnn, train_config={}, metrics={}, seed=0)
    loaded = load_model(path)
    assert loaded.format == "nnscope" and loaded.input_shape == (1, 28, 28) and loaded.classes == 10
    assert loaded.conv_layers == ("conv1", "conv2", "conv3") and loaded.class_names[:3] == ("0", "1", "2")
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), cnn(x), rtol=0, atol=0)


def test_mean_and_std_normalise_before_the_model(nets_file):
    net = trained_like("ResidualNet")
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    loaded = load_model(f"{nets_file}:ResidualNet", input_shape=(3, 30, 26), mean=mean, std=std)
    loaded.network.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 30, 26)
    expected = net((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), expected, rtol=0, atol=1e-6)
    one = load_model(f"{nets_file}:ResidualNet", input_shape=(3, 30, 26), mean=[0.5], std=[0.25])
    assert one.module.mean.flatten().tolist() == [0.5] * 3


@pytest.mark.parametrize("name", ["DilatedGroupedNet", "ResidualNet"])
def test_exported_convs_keep_their_groups_stride_and_dilation(name, tmp_path, nets_file):
    """An unflattened .pt2 keeps each conv's weights but not its settings: they come from the aten conv calls."""
    from nnscope.vision.filters import layer_filters

    net = trained_like(name)
    loaded = load_model(save_as("export", name, net, tmp_path, nets_file)[0])
    eager = {n: m for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert set(loaded.conv_layers) == set(eager)
    for layer, conv in eager.items():
        exported = loaded.network.get_submodule(layer)
        assert (exported.groups, exported.stride, exported.dilation, exported.padding) == \
            (conv.groups, conv.stride, conv.dilation, conv.padding), layer
        stats = layer_filters(exported)
        assert stats["groups"] == conv.groups and stats["in_channels"] == conv.in_channels
        assert stats["stride"] == list(conv.stride) and stats["dilation"] == list(conv.dilation)


def test_program_exported_for_one_batch_size_runs_any_batch(tmp_path):
    net = trained_like("VGGStyle")
    torch.export.save(torch.export.export(net, (torch.rand(1, 3, 32, 32),)), tmp_path / "one.pt2")
    loaded = load_model(tmp_path / "one.pt2")
    assert loaded.static_batch == 1 and loaded.input_shape == (3, 32, 32)
    x = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x), rtol=0, atol=1e-5)


def test_module_instance_factory_and_class_names(tmp_path, nets_file):
    assert load_model(f"{nets_file}:instance", input_shape=(1, 5, 5)).conv_layers == ("early", "middle", "late")
    names = tmp_path / "names.txt"
    names.write_text("".join(f"class {k}\n" for k in range(10)) + "\n")
    loaded = load_model(f"{nets_file}:make_vgg", input_shape=(3, 32, 32), class_names=names)
    assert loaded.class_names[9] == "class 9" and loaded.fixed_size and loaded.image_size == (32, 32)


def test_loading_a_python_file_writes_nothing_beside_it(nets_file):
    before = sorted(p.name for p in nets_file.parent.rglob("*"))
    load_model(f"{nets_file}:OutOfOrder", input_shape=(1, 4, 4))
    assert sorted(p.name for p in nets_file.parent.rglob("*")) == before == ["nets.py"]


def test_wrapper_prefix_of_data_parallel_weights_is_dropped(tmp_path, nets_file):
    net = trained_like("OutOfOrder")
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "ddp.pt")
    loaded = load_model(f"{nets_file}:OutOfOrder", tmp_path / "ddp.pt", input_shape=(1, 6, 6))
    x = torch.rand(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x), rtol=0, atol=0)


def bad(words, *args, **kwargs):
    """Loading raises one NnscopeError of one line holding every word of `words`."""
    with pytest.raises(NnscopeError) as caught:
        load_model(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_bad_specs_give_one_line_each(tmp_path, nets_file):
    bad(["no such file", "missing.pt"], tmp_path / "missing.pt")
    bad(["no such file", "gone.py"], f"{tmp_path}/gone.py:Net")
    bad(["is a folder"], tmp_path)
    bad(["has no 'ResidualNt'", "close matches: ResidualNet"], f"{nets_file}:ResidualNt", input_shape=(3, 8, 8))
    bad(["NOT_A_MODEL is a int", "expected a callable"], f"{nets_file}:NOT_A_MODEL")
    bad(["returns_a_number() returned a int", "expected an nn.Module"], f"{nets_file}:returns_a_number")
    bad(["name the model in the file too", ":NAME"], str(nets_file))
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x00\x01 not a model at all" * 10)
    bad(["not a model nnscope can read", "TorchScript", ".pt2"], noise)
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\n\nraise ValueError('no GPU here')\n")
    bad(["importing", "broken.py line 3", "ValueError: no GPU here"], f"{broken}:Net")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit('usage: exits.py DATA')\n")
    bad(["importing", "exits.py line 2", "SystemExit: usage: exits.py DATA"], f"{exits}:Net")
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def f(:\n")
    bad(["syntax.py line 1", "SyntaxError"], f"{syntax}:f")


def test_saved_objects_that_are_not_models(tmp_path, nets_file):
    net = trained_like("OutOfOrder")
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    bad(["weights only", "FILE.py:NAME --weights"], tmp_path / "sd.pt")
    torch.save(net, tmp_path / "pickled.pt")  # the whole module: only unpickling with code could read it
    bad(["weights_only=False", "never does", "torch.jit.save"], tmp_path / "pickled.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    bad(["holding a list", "not a model"], tmp_path / "list.pt")
    bad(["--weights: only used with --model FILE.py:NAME"], tmp_path / "sd.pt", weights=tmp_path / "sd.pt")


def test_weights_that_do_not_fit_name_the_first_bad_key(tmp_path, nets_file):
    state = trained_like("OutOfOrder").state_dict()
    spec = f"{nets_file}:OutOfOrder"
    torch.save({k: v for k, v in state.items() if k != "early.bias"}, tmp_path / "missing.pt")
    bad(["does not fit", "missing key 'early.bias'"], spec, tmp_path / "missing.pt", input_shape=(1, 4, 4))
    torch.save({**state, "head.weight": torch.zeros(2)}, tmp_path / "extra.pt")
    bad(["unexpected key 'head.weight'"], spec, tmp_path / "extra.pt", input_shape=(1, 4, 4))
    save_file({**state, "middle.weight": torch.zeros(6, 4, 3, 3)}, tmp_path / "shape.safetensors")
    bad(["'middle.weight' has shape (6, 4, 3, 3) in the file, (6, 4, 1, 1) in the model"], spec,
        tmp_path / "shape.safetensors", input_shape=(1, 4, 4))
    (tmp_path / "text.safetensors").write_text("hello")
    bad(["--weights", "not a readable .safetensors file"], spec, tmp_path / "text.safetensors")
    bad(["--weights", "no such file"], spec, tmp_path / "absent.pt")


def test_contract_breaches_give_one_line(tmp_path, nets_file):
    bad(["returned torch.float32 of shape (2, 3, 1, 1)", "expected logits (N, K)"], f"{nets_file}:FeatureMapNet",
        input_shape=(1, 28, 28))
    bad(["returned a tuple", "expected a tensor of logits"], f"{nets_file}:TupleNet", input_shape=(1, 28, 28))
    bad(["does not run", "(2, 3, 20, 20) input", "RuntimeError"], f"{nets_file}:VGGStyle", input_shape=(3, 20, 20))
    bad(["--input-shape", "not known"], f"{nets_file}:VGGStyle")
    bad(["--mean: 2 values", "3 channels"], f"{nets_file}:VGGStyle", input_shape=(3, 32, 32), mean=[0, 0], std=[1, 1])
    bad(["--class-names", "2 names", "10 logits"], f"{nets_file}:VGGStyle", input_shape=(3, 32, 32),
        class_names=["a", "b"])


def test_unknown_layer_lists_close_matches(nets_file):
    loaded = load_model(f"{nets_file}:VGGStyle", input_shape=(3, 32, 32))
    assert loaded.layer("features.5") is loaded.network.features[5]
    with pytest.raises(NnscopeError, match=r"--layers: no layer 'feature.5' .*close matches: features.5"):
        loaded.layer("feature.5")


def rewritten_archive(source: Path, target: Path, change) -> None:
    """A copy of the zip `source` with each member's bytes passed through `change(name, data)`."""
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info, change(info.filename, old.read(info.filename)))


def test_exported_program_with_pickled_payloads_is_refused(tmp_path):
    import io
    import json

    net = trained_like("OutOfOrder")
    torch.export.save(torch.export.export(net, (torch.rand(1, 1, 5, 5),)), tmp_path / "ok.pt2")

    def pickled_weight(name, data):
        if not name.endswith("_weights_config.json"):
            return data
        config = json.loads(data)
        first = next(iter(config["config"]))
        config["config"][first]["use_pickle"] = True
        return json.dumps(config).encode()

    rewritten_archive(tmp_path / "ok.pt2", tmp_path / "pickled.pt2", pickled_weight)
    bad(["is stored as a pickled object", "plain tensors"], tmp_path / "pickled.pt2")
    code_object = io.BytesIO()
    torch.save(user_nets.OutOfOrder(), code_object)  # unpickling it imports and builds a class: code

    def code_inputs(name, data):
        return code_object.getvalue() if "/data/sample_inputs/" in name else data

    rewritten_archive(tmp_path / "ok.pt2", tmp_path / "inputs.pt2", code_inputs)
    bad(["sample inputs need torch.load(weights_only=False)"], tmp_path / "inputs.pt2")
    assert load_model(tmp_path / "ok.pt2").conv_layers == ("early", "middle", "late")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: an NVIDIA GPU and a CUDA build of torch")
@pytest.mark.parametrize("fmt", ["script", "export", "safetensors"])
def test_loads_onto_cuda(fmt, tmp_path, nets_file):
    net = trained_like("ResidualNet")
    spec, weights = save_as(fmt, "ResidualNet", net, tmp_path, nets_file)
    loaded = load_model(spec, weights, input_shape=None if fmt == "export" else (3, 30, 26), device="cuda")
    assert loaded.device.type == "cuda" and loaded.conv_layers == NETS["ResidualNet"][2]
    x = torch.rand(2, 3, 30, 26)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x.cuda()).cpu(), net(x), rtol=1e-4, atol=1e-4)
