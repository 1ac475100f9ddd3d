"""The motif task's labels follow its rule exactly; FASTA reading round-trips and rejects bad files clearly."""

import json

import numpy as np
import pytest
import torch

from nnscope.cli import main
from nnscope.errors import NnscopeError
from nnscope.threads import one_thread
from nnscope.recurrent.sequences import (AMINO_ACIDS, MOTIFS, PAD, generate_motif_sequences, motif_labels, one_hot,
                                         read_fasta, write_fasta_text)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small recurrent steps run 10x to 100x faster on one thread when the cores are shared."""
    with one_thread():
        yield


@pytest.mark.parametrize("length,distance", [(40, 0), (40, 34), (1000, 300)])
def test_labels_are_the_motif_at_the_distance(length, distance):
    s = generate_motif_sequences(60, length, distance, seed=3)
    assert s.tokens.shape == (60, length) and (s.lengths == length).all()
    for row, label in zip(s.tokens, s.labels):
        text = "".join(AMINO_ACIDS[t] for t in row)
        # independent reading of the rule: the 6 residues that end `distance` before the end
        assert text[length - distance - 6:length - distance] == MOTIFS[label]
    assert (motif_labels(s.tokens, s.lengths, distance) == s.labels).all()
    assert np.bincount(s.labels).tolist() == [30, 30]  # balanced


def test_label_depends_only_on_the_motif():
    s = generate_motif_sequences(400, 50, 10, seed=0)
    # outside the motif window the residues carry no label information: same frequencies in both classes
    outside = np.delete(s.tokens, np.arange(34, 40), axis=1)
    freq = [np.bincount(outside[s.labels == k].ravel(), minlength=20) / outside[s.labels == k].size for k in (0, 1)]
    assert np.abs(freq[0] - freq[1]).max() < 0.01


def test_generator_is_seeded():
    a, b = generate_motif_sequences(10, 100, 5, seed=1), generate_motif_sequences(10, 100, 5, seed=1)
    assert (a.tokens == b.tokens).all() and (a.labels == b.labels).all()
    assert (a.tokens != generate_motif_sequences(10, 100, 5, seed=2).tokens).any()


def test_generator_rejects_a_distance_past_the_start():
    with pytest.raises(NnscopeError, match="distance"):
        generate_motif_sequences(10, 20, 15)


def test_one_hot_is_time_first_and_pads_with_zeros():
    x = one_hot(np.array([[0, 19, PAD]]))
    assert x.shape == (3, 1, 20)
    assert x[0, 0, 0] == 1 and x[1, 0, 19] == 1 and x[2].abs().sum() == 0 and x.sum() == 2
    assert x.dtype == torch.float64


def test_fasta_round_trip(tmp_path):
    s = generate_motif_sequences(6, 130, 7, seed=4)
    path = tmp_path / "seqs.fa"
    path.write_text(write_fasta_text(s))
    back = read_fasta(path)
    assert back.ids == s.ids and (back.labels == s.labels).all() and (back.tokens == s.tokens).all()


def test_fasta_ragged_lowercase_and_comments(tmp_path):
    path = tmp_path / "p.fa"
    path.write_text("; a comment\n>sp|P1 1 some description\nmkv\nLLA*\n\n>P2 0\nWW\n")
    s = read_fasta(path)
    assert s.ids == ["sp|P1", "P2"] and s.labels.tolist() == [1, 0] and s.lengths.tolist() == [6, 2]
    assert "".join(AMINO_ACIDS[t] for t in s.tokens[0]) == "MKVLLA"
    assert s.tokens[1].tolist() == [18, 18, PAD, PAD, PAD, PAD]


@pytest.mark.parametrize("text,message", [
    (">a 1\nMKXV\n", r"line 2: unknown residue 'X' at position 3"),
    (">a 1\nMK\n>b 0\nAC1\n", r"line 4: unknown residue '1'"),
    (">a\nMK\n", r"line 1: header '>a' has no label"),
    (">a yes\nMK\n", r"line 1: label 'yes' of 'a'; expected 0 or 1"),
    ("MKV\n>a 1\nMK\n", r"line 1: residues before the first"),
    (">a 1\n>b 0\nMK\n", r"line 1: record 'a' has no residues"),
    (">a 1\n*\n>b 0\nMK\n", r"line 1: record 'a' has no residues"),  # a lone stop codon is no sequence
    (">a 1\nMK\n>b 0\n**\n", r"line 3: record 'b' has no residues"),
    ("\n\n", r"no '>id label' record"),
])
def test_fasta_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(NnscopeError, match=message):
        read_fasta(path)


def test_cli_reports_a_bad_fasta_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.fa"
    path.write_text(">a 1\nMKBV\n")
    assert main(["longseq", "--fasta", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown residue 'B'" in err and "Traceback" not in err
    assert main(["longseq", "--fasta", str(tmp_path / "missing.fa"), "--out", str(tmp_path)]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_too_few_fasta_records_name_the_file(tmp_path, capsys):
    path = tmp_path / "three.fa"
    path.write_text(">a 0\nMK\n>b 1\nMKV\n>c 0\nAC\n")
    assert main(["longseq", "--fasta", str(path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"nnscope longseq: error: FASTA file {path}: expected at least 4 records with "
                                       f"both labels 0 and 1, got 3 record(s) with labels [0, 1]\n")


def test_cli_fits_the_echo_state_network_on_a_ragged_fasta_file(tmp_path, capsys):
    short, long = generate_motif_sequences(40, 80, 0, seed=1), generate_motif_sequences(40, 130, 0, seed=2)
    long.ids = [f"long{i}" for i in range(40)]
    path = tmp_path / "motifs.fa"
    path.write_text(write_fasta_text(short) + write_fasta_text(long))
    assert main(["longseq", "--fasta", str(path), "--esn-size", "30", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["records"] == 80 and result["test"] == 24 and result["lengths"] == {"min": 80, "max": 130}
    assert result["final"]["test_accuracy"] == 1.0  # the motif ends each sequence: the final state holds it
    assert result["learned"] == ["V", "c"] and (tmp_path / "longseq_fasta.json").exists()


def test_ragged_lengths_put_the_motif_before_each_own_end():
    s = generate_motif_sequences(50, (1000, 5000), 25, seed=6)
    assert s.lengths.min() >= 1000 and s.lengths.max() <= 5000 and len(set(s.lengths.tolist())) > 40
    for row, n, label in zip(s.tokens, s.lengths, s.labels):
        assert (row[n:] == PAD).all() and (row[:n] >= 0).all()
        assert "".join(AMINO_ACIDS[t] for t in row[n - 31:n - 25]) == MOTIFS[label]
    assert (motif_labels(s.tokens, s.lengths, 25) == s.labels).all()


def test_too_few_records_for_the_study_names_the_file(tmp_path):
    from nnscope.recurrent.esn import EchoStateConfig
    from nnscope.recurrent.longseq_study import fasta_esn_study

    path = tmp_path / "three.fa"
    path.write_text(">a 1\nMKV\n>b 0\nKK\n>c 1\nMK\n")
    sequences = read_fasta(path)
    assert sequences.source == sequences.subset([0, 2]).source == f"FASTA file {path}"
    with pytest.raises(NnscopeError, match=f"^FASTA file {path}: expected at least 4 records"):
        fasta_esn_study(sequences, EchoStateConfig())
