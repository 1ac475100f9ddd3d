"""`nnscope longseq`'s options: every check names the option as typed, before any work; the short study."""

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest

from nnscope.cli import build_parser, main
from nnscope.cli.common import options_from_args
from nnscope.errors import NnscopeError
from nnscope.options.longseq import MOTIF_RESIDUES, SHORT_STUDY, LongSeqOptions
from nnscope.recurrent import longseq_study
from nnscope.recurrent.sequences import MOTIFS
from nnscope.report.stages import STAGES


@pytest.fixture
def no_study(monkeypatch):
    """Any call of the study itself fails the test: the error must come before the work."""
    def fail(*args, **kwargs):
        raise AssertionError("the study ran although the options were bad")

    for name in ("longseq_study", "fasta_study"):
        monkeypatch.setattr(longseq_study, name, fail)


BAD = [  # (arguments, option the one line must name, a word of what was expected)
    (["--radii", "nan"], "--radii", "spectral radius > 0"),
    (["--train-length", "6"], "--train-length", "residues from 7 to 100000"),
    (["--train-length", "30", "--distances", "25"], "--distances", "from 0 to 24 (--train-length 30"),
    (["--seeds", "0"], "--seeds", "seeds >= 1"),
    (["--learning-rate", "0"], "--learning-rate", "learning rate > 0"),
    (["--learning-rate", "nan"], "--learning-rate", "learning rate > 0"),
    (["--train-forget-biases", "inf"], "--train-forget-biases", "finite forget-gate bias"),
    (["--radii", "inf"], "--radii", "spectral radius > 0"),
    (["--radii", "0.5", "-1"], "--radii", "spectral radius > 0"),
    (["--radii=-inf"], "--radii", "spectral radius > 0"),
    (["--radii", "0", "1"], "--radii", "spectral radius > 0"),
    (["--forget-biases", "nan"], "--forget-biases", "finite forget-gate bias"),
    (["--forget-biases", "1", "inf"], "--forget-biases", "finite forget-gate bias"),
    (["--hidden", "1"], "--hidden", "units from 2 to 4096"),
    (["--train-count", "1"], "--train-count", "sequences from 2 to 100000"),
    (["--test-count", "0"], "--test-count", "sequences from 2 to 100000"),
    (["--updates", "0"], "--updates", "Adam updates >= 1"),
    (["--esn-size", "0"], "--esn-size", "reservoir units from 1 to 4096"),
    (["--ridge", "-1"], "--ridge", "ridge penalty >= 0"),
    (["--ridge", "nan"], "--ridge", "ridge penalty >= 0"),
    (["--esn-radius", "inf"], "--esn-radius", "spectral radius >= 0"),
    (["--esn-input-scaling", "-0.1"], "--esn-input-scaling", "input scaling >= 0"),
    (["--seed", "-1"], "--seed", "whole number from 0"),
    (["--seed", str(2**64)], "--seed", "whole number from 0"),
    (["--lengths", "6"], "--lengths", "residues from 7 to 100000"),
    (["--lengths", "50", "--distances", "45"], "--distances", "from 0 to 44"),
    (["--distances", "-1"], "--distances", "from 0 to"),
    (["--lengths", "8", "--distances", "0", "--far", "3"], "--far", "steps from 0 to 2"),
    (["--far", "5000"], "--far", "steps from 0 to 994"),
    (["--far", "-1"], "--far", "steps from 0 to"),
]


@pytest.mark.parametrize("argv,option,expected", BAD)
def test_a_bad_option_is_one_line_naming_it_before_any_work(tmp_path, capsys, no_study, argv, option, expected):
    assert main(["longseq", *argv, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith(f"nnscope longseq: error: {option}: ") and expected in lines[0], lines[0]
    for internal in ("hidden:", "ridge:", "train count", "distance:"):  # the old names of the fields
        assert f"error: {internal}" not in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written either


def test_far_is_named_as_a_number_of_steps_not_a_distance(tmp_path, capsys, no_study):
    assert main(["longseq", "--lengths", "8", "--distances", "0", "--far", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--far: 3; expected a whole number of steps from 0 to 2" in err and "distance" not in err.split(":")[2]


@pytest.mark.parametrize("fasta", [False, True])
def test_out_that_is_a_file_is_refused_before_the_work_and_left_alone(tmp_path, capsys, no_study, fasta):
    target = tmp_path / "taken.txt"
    target.write_bytes(b"the user's own file\n")
    extra = ["--fasta", str(tmp_path / "seqs.fa")] if fasta else []
    assert main(["longseq", *extra, "--out", str(target)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"nnscope longseq: error: --out: {target} is a file; expected a folder (created if missing)"]
    assert target.read_bytes() == b"the user's own file\n"


def test_out_below_a_file_is_refused_naming_out(tmp_path, capsys, no_study):
    (tmp_path / "file").write_text("x")
    assert main(["longseq", "--out", str(tmp_path / "file" / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nnscope longseq: error: --out: cannot create the folder")


def test_checks_called_from_python_name_the_same_options():
    with pytest.raises(NnscopeError, match=r"^--radii: nan; expected a spectral radius > 0$"):
        LongSeqOptions(spectral_radii=(math.nan,)).check()
    with pytest.raises(NnscopeError, match=r"^--lengths: \(\); expected one value or more$"):
        LongSeqOptions(lengths=()).check()
    with pytest.raises(NnscopeError, match=r"^--hidden: 2.5; expected a whole number of units from 2 to 4096$"):
        LongSeqOptions(hidden=2.5).check()
    with pytest.raises(NnscopeError, match=r"^--fasta: "):
        LongSeqOptions(fasta=3).check()
    LongSeqOptions().check()
    SHORT_STUDY.check()


def test_the_options_motif_length_is_the_tasks():
    assert {len(m) for m in MOTIFS} == {MOTIF_RESIDUES}


def test_fasta_names_the_options_it_ignores():
    assert LongSeqOptions(fasta="x.fa").unused() == []
    assert LongSeqOptions(fasta="x.fa", hidden=8, spectral_radii=(1.0,), ridge=0.1).unused() == ["--radii", "--hidden"]
    assert LongSeqOptions(hidden=8).unused() == []  # without --fasta everything is used


def test_the_command_and_the_report_stage_run_the_same_study():
    """Same function and same options give the same numbers (the study is deterministic for a seed)."""
    stage = next(s for s in STAGES if s.name == "longseq")
    from nnscope.report.figures_longseq import run_longseq_figures

    assert stage.run is run_longseq_figures and stage.detach and not stage.uses_model
    assert stage.options == LongSeqOptions() and stage.quick == SHORT_STUDY
    q = SHORT_STUDY
    argv = ["longseq", "--lengths", *map(str, q.lengths), "--distances", *map(str, q.distances),
            "--radii", *map(str, q.spectral_radii), "--forget-biases", *map(str, q.forget_biases),
            "--hidden", str(q.hidden), "--train-count", str(q.train_count), "--test-count", str(q.test_count),
            "--updates", str(q.updates), "--train-length", str(q.train_length), "--seeds", str(q.seeds)]
    args = build_parser(argv).parse_args(argv)
    assert options_from_args(LongSeqOptions, args, spectral_radii="radii") == stage.options_for(True, 0)
    assert stage.options_for(True, 7) == replace(SHORT_STUDY, seed=7)
    config = longseq_study.study_config(replace(SHORT_STUDY, seed=7))
    assert config.esn.seed == config.budget.seed == config.seed == 7 and config.budget.hidden == q.hidden


def imported(argv: list[str]) -> set[str]:
    """The modules `nnscope ARGV` imports (from -X importtime), after checking it exits with 0 or 2."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "nnscope", *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 2), proc.stderr[-500:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", ["rnn", "lstm", "longseq"])
def test_help_imports_neither_torch_nor_the_analysis(command):
    modules = imported([command, "--help"])
    assert "torch" not in modules and "matplotlib" not in modules and "numpy" not in modules
    assert not [m for m in modules if m.startswith("nnscope.recurrent")]


@pytest.mark.parametrize("argv", [["longseq", "--radii", "nan"], ["lstm", "--params", "."], ["rnn", "--params", "."]])
def test_a_bad_option_is_refused_before_the_analysis_is_imported(argv):
    modules = imported(argv)
    assert "matplotlib" not in modules and not [m for m in modules if m.startswith("nnscope.recurrent")]


def test_help_shows_defaults_as_typed():
    proc = subprocess.run([sys.executable, "-m", "nnscope", "longseq", "--help"], capture_output=True, text=True,
                          timeout=60)
    text = " ".join(proc.stdout.split())  # as one line, however the terminal wraps it
    assert "(default: 1000)" in text and "(default: 0.5 0.9 1.0 1.5 2.0)" in text and "(default: 1.0 3.0)" in text
    assert "(default: [" not in text and "(default: (" not in text and "None" not in text


def test_fasta_with_generated_task_options_says_they_are_ignored(tmp_path, capsys):
    from nnscope.recurrent.sequences import generate_motif_sequences, write_fasta_text

    path = tmp_path / "seqs.fa"
    path.write_text(write_fasta_text(generate_motif_sequences(20, 30, 0, seed=3)))
    assert main(["longseq", "--fasta", str(path), "--hidden", "8", "--esn-size", "20", "--out", str(tmp_path),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert "note: --hidden is ignored with --fasta" in captured.err
    result = json.loads(captured.out)
    assert result["finding"][0].startswith(f"The echo state network on {path}: ")
    assert f"{result['final']['test_accuracy']:.1%} from the final state" in result["finding"][0]
