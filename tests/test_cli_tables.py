"""Every command's tables fit an 80-column terminal (and a pipe with COLUMNS=80) with nothing cut:
no line over 80 characters, no ellipsis, long layer and class names whole on one line."""

import io
import json
import re

import pytest
from rich.console import Console
from rich.table import Table

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)

from nnscope.cli import main
from nnscope.cli.tables import fitted, print_table, water_filled

WIDTH = 80
BOX = re.compile(r"[│┃]")

# class k when channel k is the brightest: both convs pass channels 0-2 through (centre tap 1), the head reads
# their means; the layers' names are longer than a narrow column, as in many users' models
LONG_NAMES = '''
import torch
from torch import nn


class LongNames(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder_block_one_convolution = nn.Conv2d(3, 6, 3, padding=1)
        self.encoder_block_two_convolution = nn.Conv2d(6, 8, 3, padding=1)
        self.classifier_head_linear = nn.Linear(8, 3)
        with torch.no_grad():
            for conv in (self.encoder_block_one_convolution, self.encoder_block_two_convolution):
                conv.weight.zero_()
                conv.bias.zero_()
                for k in range(3):
                    conv.weight[k, k, 1, 1] = 1.0
            self.classifier_head_linear.weight.zero_()
            self.classifier_head_linear.bias.zero_()
            self.classifier_head_linear.weight[:, :3] = 10 * torch.eye(3)

    def forward(self, x):
        x = torch.relu(self.encoder_block_one_convolution(x))
        x = torch.relu(self.encoder_block_two_convolution(x))
        return self.classifier_head_linear(x.mean(dim=(2, 3)))
'''
LAYERS = ("encoder_block_one_convolution", "encoder_block_two_convolution")
CLASSES = ("blue_crocodile_of_the_nile", "green_sea_turtle", "red_kangaroo_of_the_outback")  # ImageFolder's order


def rendered(renderable, width: int = WIDTH) -> list[str]:
    """The lines `renderable` prints on a plain console `width` characters wide."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue().splitlines()


def assert_legible(lines: list[str], width: int = WIDTH) -> None:
    """No line wider than `width`, nothing cut with an ellipsis."""
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert not any("…" in line for line in lines), "\n".join(lines)


def cells(lines: list[str]) -> list[str]:
    """The text of every table cell on every line, stripped."""
    return [cell.strip() for line in lines if BOX.search(line) for cell in BOX.split(line)[1:-1]]


# ---- the fitting itself, on hand-made tables ----

def sweep_table(shifts: int = 6) -> Table:
    """A shift sweep as `nnscope shift` prints it: 4 paddings x 2N+1 shifts of accuracies."""
    table = Table("padding", *[f"{s:+d}" for s in range(-shifts, shifts + 1)], title="accuracy (%) for shifts in x")
    for p, padding in enumerate(("clamp", "zero", "reflect", "wrap")):
        table.add_row(padding, *[f"{90 + p + s / 100:.2f}" for s in range(2 * shifts + 1)])
    return table


def test_a_table_that_fits_is_printed_as_it_is():
    table = Table("a", "b")
    table.add_row("1", "2")
    assert rendered(fitted(table, Console(width=WIDTH))) == rendered(table)


def test_the_shift_sweep_is_split_into_tables_that_repeat_the_padding_and_keep_every_number():
    table = sweep_table()
    before = rendered(table)
    assert any("…" in line for line in before)  # what rich alone prints at 80 columns: "9…"
    lines = rendered(fitted(table, Console(width=WIDTH)))
    assert_legible(lines)
    numbers = [c for c in cells(lines) if re.fullmatch(r"\d+\.\d\d", c)]
    assert sorted(numbers) == sorted(f"{90 + p + s / 100:.2f}" for p in range(4) for s in range(13))
    assert cells(lines).count("clamp") == 2  # the key column in each of two parts
    # parts of even size (7 and 6 shifts, not 8 and 5), each wide enough for the whole title
    assert any("accuracy (%) for shifts in x (continued, 2 of 2)" in line for line in lines)
    for shift in range(-6, 7):
        assert f"{shift:+d}" in cells(lines)


def test_columns_are_narrowed_to_their_longest_word_and_short_columns_stay_whole():
    table = Table("quantity", "value", "formula")
    table.add_row("q(2)", "[0.2689414214, 0.7310585786]",
                  "σ(b_o + U_o x(2) + W_o h(1)) output gate and some more words to wrap onto further lines")
    lines = rendered(fitted(table, Console(width=WIDTH)))
    assert_legible(lines)
    assert "q(2)" in cells(lines)
    assert "[0.2689414214, 0.7310585786]" in cells(lines)  # wants little: drawn whole, the formula wraps


def test_headers_wrap_before_values_do():
    table = Table("rank", "channel", "Cohen's d", "higher for", "where", "margin if zeroed", "accuracy if zeroed")
    for rank, where in enumerate(["middle centre", "middle right", "top left"], start=1):
        table.add_row(str(rank), "35", "-2.05", "'8'", where, "4.76", "100.00%")
    lines = rendered(fitted(table, Console(width=WIDTH)))
    assert_legible(lines)
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 3 and "middle centre" in cells(rows)  # one line a row: the long headers wrapped instead


def test_a_table_whose_columns_do_not_fit_even_in_pairs_is_turned_on_its_side():
    table = Table("name", "a description longer than the terminal is wide in every single one of its cells")
    table.add_column("third")
    table.add_row("supercalifragilisticexpialidocious_layer_name", "x" * 30, "last")
    lines = rendered(fitted(table, Console(width=40)), width=40)
    assert_legible(lines, 40)
    assert len(BOX.split(lines[1])) == 4  # two columns: header, value
    joined = "".join(BOX.split(line)[2].strip() for line in lines if BOX.search(line))  # the value column
    # a word wider than its column is folded over lines, not cut
    assert "supercalifragilisticexpialidocious_layer_name" in joined and "x" * 30 in joined
    assert "last" in cells(lines) and "third" in cells(lines)


def test_water_filling_gives_the_modest_columns_all_they_want():
    assert water_filled(10, [3, 30]) == [3, 7]
    assert water_filled(40, [3, 30]) == [3, 30]
    assert water_filled(9, [10, 10, 10]) == [3, 3, 3]
    assert sum(water_filled(7, [10, 10])) == 7


def test_print_table_uses_the_console_width():
    console = Console(width=50, file=io.StringIO(), color_system=None)
    print_table(console, sweep_table(3))
    assert_legible(console.file.getvalue().splitlines(), 50)


# ---- every command at COLUMNS=80, on a user's model with long layer and class names ----

@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """The LongNames model file and an ImageFolder of its three long-named classes, 4 images each."""
    root = tmp_path_factory.mktemp("long")
    (root / "net.py").write_text(LONG_NAMES)
    data = user_nets.write_image_folder(root / "data", CLASSES, 4)
    return f"{root}/net.py:LongNames", str(data), str(root / "out")


def human_view(capsys, monkeypatch, argv) -> list[str]:
    """What `nnscope ARGV` prints on stdout through a pipe with COLUMNS=80."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("command, extra, names", [
    ("filters", ["--input-shape", "3", "30", "26"], LAYERS),
    ("featuremaps", ["--data", "{data}"], (LAYERS[1], CLASSES[0], CLASSES[1])),
    ("shift", ["--data", "{data}", "--digit", "2", "--sweep-max", "6"], CLASSES[2:]),
    ("occlude", ["--data", "{data}", "--images", "6"], ()),
    ("attack", ["--data", "{data}", "--digit", "2", "--sizes", "8", "--donors", "1", "--images", "3"], ()),
    ("layers", ["--input-shape", "3", "30", "26"], LAYERS),
])
def test_every_vision_command_fits_80_columns_with_names_whole(capsys, monkeypatch, user_model, command, extra,
                                                               names):
    model, data, out = user_model
    argv = [command, "--model", model, *[data if a == "{data}" else a for a in extra]]
    lines = human_view(capsys, monkeypatch, argv + ([] if command == "layers" else ["--out", out]))
    assert_legible(lines)
    for name in names:  # whole on one line: in a table's cell or title
        assert any(name in line for line in lines), (name, "\n".join(lines))


@pytest.mark.parametrize("command", ["rnn", "lstm"])
def test_the_worked_solutions_with_their_formulas_fit_80_columns(capsys, monkeypatch, command):
    lines = human_view(capsys, monkeypatch, [command, "--explain"])
    assert_legible(lines)
    assert "formula (--explain)" in cells(lines)


def test_longseq_fits_80_columns(capsys, monkeypatch, tmp_path):
    lines = human_view(capsys, monkeypatch, [
        "longseq", "--lengths", "12", "--distances", "0", "3", "--train-length", "12", "--radii", "0.5",
        "--forget-biases", "1", "--far", "4", "--hidden", "4", "--updates", "2", "--seeds", "1", "--train-count", "64",
        "--test-count", "16", "--esn-size", "8", "--out", str(tmp_path)])
    assert_legible(lines)
    assert "far share dL/dW or gates" in " ".join(cells(lines)) or "far share" in " ".join(lines)


def test_train_and_data_summaries_fit_80_columns_with_a_long_checkpoint_path():
    from nnscope.cli import data, train

    checkpoint = "/home/a-student-with-a-long-name/projects/neural-networks-course/runs/mnist_cnn_best_seed_0.pt"
    result = {"recipe": "best", "seed": 0, "train_accuracy": 0.9991, "test_accuracy": 0.9952, "seconds": 412.5,
              "device": "cpu", "processes": 1, "threads": 2, "parameters": 421642,
              "conv_layers": ["conv1", "conv2", "conv3"], "checkpoint": checkpoint}
    console = Console(width=WIDTH, file=io.StringIO(), color_system=None)
    train.show(result, console)
    summary = {"dataset": "mnist", "source": checkpoint,
               "train": {"per_class": [6000] * 10, "images": 60000, "shape": [28, 28], "mean_pixel": 0.1307},
               "test": {"per_class": [1000] * 10, "images": 10000, "shape": [28, 28], "mean_pixel": 0.1325}}
    data.show(summary, console)
    lines = console.file.getvalue().splitlines()
    assert_legible(lines)
    assert "".join(c for c in cells(lines)) .count(checkpoint) == 1  # folded over lines, every character there
    assert json.dumps(result)  # the hand-made result is plain JSON, as the command's
