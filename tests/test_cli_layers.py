"""`nnscope layers` end to end: JSON keys and measured shapes, --image, the human table, bad input, start-up."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import user_nets
from nnscope.cli import main

LAYER_KEYS = {"name", "type", "output_shape", "parameters"}


@pytest.fixture
def nets_file(tmp_path) -> Path:
    path = tmp_path / "nets.py"
    shutil.copy(Path(user_nets.__file__), path)
    return path


def run_json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # exactly one JSON document on stdout


def test_json_lists_every_module_with_measured_shapes(capsys, nets_file):
    result = run_json(capsys, ["layers", "--json", "--model", f"{nets_file}:VGGStyle", "--input-shape", "3", "32", "32"])
    assert {"layers", "conv_layers", "input_shape", "classes", "class_names"} <= set(result)
    assert all(LAYER_KEYS <= set(layer) for layer in result["layers"])
    layers = {layer["name"]: layer for layer in result["layers"]}
    assert list(layers) == ["", "features", *(f"features.{i}" for i in range(8)), "classifier",
                            *(f"classifier.{i}" for i in range(4))]
    assert layers["features.0"] == {**layers["features.0"], "type": "Conv2d", "output_shape": [8, 32, 32],
                                    "parameters": 3 * 8 * 9 + 8}
    assert layers["features.4"]["type"] == "MaxPool2d" and layers["features.4"]["output_shape"] == [8, 16, 16]
    assert layers["classifier.0"]["output_shape"] == [16 * 8 * 8]
    assert result["conv_layers"] == ["features.0", "features.2", "features.5"]
    assert result["input_shape"] == [3, 32, 32] and result["classes"] == 10 and result["fixed_size"] is True


def test_image_gives_the_input_shape_and_grey_fits_an_rgb_model(capsys, nets_file, tmp_path):
    Image.fromarray(np.zeros((30, 26), np.uint8)).save(tmp_path / "grey.png")
    result = run_json(capsys, ["layers", "--json", "--model", f"{nets_file}:ResidualNet", "--image", str(tmp_path / "grey.png")])
    assert result["input_shape"] == [3, 30, 26]  # the grey image's size, the model's three channels
    assert {layer["name"]: layer for layer in result["layers"]}["layer1.conv_a"]["output_shape"] == [16, 15, 13]


def test_human_table_names_layers_and_conv_order(capsys, nets_file, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["layers", "--model", f"{nets_file}:OutOfOrder", "--input-shape", "1", "9", "9"]) == 0
    out = capsys.readouterr().out
    assert "conv layers in forward order: early, middle, late" in out
    assert "Conv2d" in out and "4 x 9 x 9" in out and "input 1 x 9 x 9 (other sizes too), 2 classes" in out


@pytest.mark.parametrize("argv, words", [
    (["--model", "absent.pt"], ["--model: absent.pt: no such file"]),
    (["--model", "{nets}:Nope", "--input-shape", "1", "4", "4"], ["has no 'Nope'"]),
    (["--model", "{nets}:VGGStyle"], ["--input-shape", "not known"]),
    (["--model", "{nets}:VGGStyle", "--input-shape", "3", "0", "32"], ["--input-shape H: 0"]),
    (["--model", "{nets}:VGGStyle", "--input-shape", "3", "32", "32", "--mean", "0.5"], ["--mean and --std"]),
    (["--model", "{nets}:VGGStyle", "--input-shape", "3", "32", "32", "--mean", "0.5", "--std", "0"], ["--std: 0"]),
    (["--model", "{nets}:FeatureMapNet", "--input-shape", "1", "28", "28"], ["expected logits (N, K)"]),
    (["--model", "{nets}:VGGStyle", "--image", "{tmp}/small.png"], ["small.png: image of 8 x 8 pixels",
                                                                   "VGGStyle does not run on it"]),
    (["--model", "{nets}:VGGStyle", "--input-shape", "3", "32", "32", "--image", "{tmp}/small.png"],
     ["small.png: image of 8 x 8 pixels; the model takes 32 x 32"]),
    (["--model", "{nets}:VGGStyle", "--image", "{tmp}/absent.png"], ["absent.png: no such image file"]),
])
def test_bad_input_is_one_line_and_exit_2(capsys, nets_file, tmp_path, argv, words):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    argv = [a.replace("{nets}", str(nets_file)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["layers", "--json", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnscope layers: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_help_warns_about_running_code_and_imports_no_torch():
    code = ("import sys\nfrom nnscope.cli import main\ntry:\n    main(['layers', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("NO-TORCH")
    assert "RUNS THAT FILE'S CODE" in " ".join(done.stdout.split()) and "--checkpoint" in done.stdout


def test_torchscript_and_checkpoint_through_the_command(capsys, tmp_path, nets_file):
    import torch

    from nnscope.model import CNN, save_checkpoint

    torch.jit.save(torch.jit.script(user_nets.OutOfOrder().eval()), tmp_path / "script.pt")
    result = run_json(capsys, ["layers", "--json", "--model", str(tmp_path / "script.pt"), "--input-shape", "1", "6", "6"])
    assert result["format"] == "torchscript" and result["shapes_observed"] is False
    assert result["conv_layers"] == ["early", "middle", "late"]
    layers = {layer["name"]: layer for layer in result["layers"]}
    assert layers[""]["output_shape"] == [2] and layers["early"]["output_shape"] is None
    assert layers["middle"]["type"] == "Conv2d" and layers["middle"]["parameters"] == 6 * 4 + 6
    path = save_checkpoint(tmp_path / "cnn.pt", CNN().eval(), train_config={}, metrics={}, seed=0)
    result = run_json(capsys, ["layers", "--json", "--checkpoint", str(path)])  # the old spelling
    assert result["format"] == "nnscope" and result["conv_layers"] == ["conv1", "conv2", "conv3"]
    assert result["input_shape"] == [1, 28, 28] and result["parameters"] == sum(p.numel() for p in CNN().parameters())


def test_model_options_check_without_torch():
    code = ("import sys\nfrom nnscope.options.model import ModelOptions\nfrom nnscope.errors import NnscopeError\n"
            "for bad in ({'input_shape': (3, 32)}, {'mean': (0.5,)}, {'mean': (), 'std': ()}, {'spec': ' '}):\n"
            "    try:\n        ModelOptions(**bad).check()\n    except NnscopeError as e:\n        print(e)\n"
            "print(ModelOptions().spec, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "--input-shape: 2 numbers; expected 3: C H W"
    assert lines[1] == "--mean and --std: give both or neither"
    assert lines[2] == "--mean: no values; expected one per channel"
    assert lines[3].startswith("--model: empty")
    assert lines[4] == "runs/mnist_cnn.pt False"


def test_run_layers_is_the_commands_json_and_shows_itself(capsys, nets_file):
    from nnscope.models import load_model
    from nnscope.models.summary import LayersResult, run_layers

    result = run_layers(load_model(f"{nets_file}:VGGStyle", input_shape=(3, 32, 32)))
    assert isinstance(result, LayersResult)
    printed = run_json(capsys, ["layers", "--json", "--model", f"{nets_file}:VGGStyle", "--input-shape", "3", "32", "32"])
    assert result.to_json() == printed
    total = 3 * 8 * 9 + 8 + 8 * 8 * 9 + 8 + 8 * 16 * 9 + 16 + 16 * 8 * 8 * 32 + 32 + 32 * 10 + 10
    assert result.parameters == total and result.finding[0].endswith(f"with {total:,} parameters in 14 modules.")
    assert result.finding[1] == (f"The largest is classifier.1 (Linear) with {16 * 8 * 8 * 32 + 32:,} parameters, "
                                 f"{(16 * 8 * 8 * 32 + 32) / total:.0%} of the model.")
    assert result.finding[2] == "Its 3 conv layers in forward order: features.0, features.2, features.5."
    bars = result.figure().axes[0]  # one bar per module holding parameters, in forward order, conv layers in red
    assert [t.get_text() for t in bars.get_yticklabels()] == [
        "features.0 (Conv2d)", "features.2 (Conv2d)", "features.5 (Conv2d)", "classifier.1 (Linear)",
        "classifier.3 (Linear)"]
    assert [p.get_width() for p in bars.patches] == [224, 584, 1168, 32800, 330]
    view = result._repr_html_()
    assert f">{total:,}<" in view and ">3 x 32 x 32 (this size only)<" in view and view.count("<img") == 1
