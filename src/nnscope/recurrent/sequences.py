"""Protein-like sequences for the long-sequence experiments: a seeded motif task and FASTA reading.

A sequence is a string over the 20 amino acids, stored as token indices 0..19 (`AMINO_ACIDS`).
In the generated task every sequence carries, at a chosen distance from its end, one of two
short motifs; the label is the index of that motif and nothing else. The distance is the
number of residues after the motif, so it is exactly how far back the network must remember.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nnscope.errors import NnscopeError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"  # one-letter codes; a residue's token is its index here
# the motif of class 0 and of class 1: a run of positive against negative charges
MOTIFS = ("KRKRKR", "DEDEDE")
PAD = -1  # token of the positions past a sequence's end in a padded batch


@dataclass
class SequenceSet:
    """Labelled sequences as one padded token array (sequences end at `lengths`, then PAD)."""

    tokens: np.ndarray  # (N, T_max) int64, values 0..19, PAD after each sequence's end
    lengths: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64, 0 or 1
    ids: list[str] = field(default_factory=list)  # one name per sequence
    source: str = "sequences"  # where they came from, for messages: "FASTA file PATH" when read from one

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "SequenceSet":
        """The sequences at `index` (an index array or slice)."""
        index = np.arange(len(self))[index]
        return SequenceSet(self.tokens[index], self.lengths[index], self.labels[index],
                           [self.ids[i] for i in index] if self.ids else [], self.source)


def generate_motif_sequences(count: int, length: int | tuple[int, int], distance: int, seed: int = 0,
                             motifs: tuple[str, str] = MOTIFS) -> SequenceSet:
    """`count` random sequences, half of each class, with motif `label` ending `distance` residues before
    each one's end; everything else is uniform over the 20 amino acids. `length` is one length for all, or
    (shortest, longest) for lengths drawn uniformly, padded with PAD after each end."""
    shortest, longest = (length, length) if isinstance(length, int) else length
    motif_length = len(motifs[0])
    if len(motifs) != 2 or len(motifs[1]) != motif_length or motifs[0] == motifs[1]:
        raise NnscopeError(f"motifs: expected two different motifs of equal length, got {motifs!r}")
    if count < 2:
        raise NnscopeError(f"count: expected at least 2 sequences (one per class), got {count}")
    if not 0 < shortest <= longest:
        raise NnscopeError(f"length: expected a positive length or (shortest, longest), got {length!r}")
    if distance < 0 or distance + motif_length > shortest:
        raise NnscopeError(f"distance: expected 0 <= distance <= length - {motif_length} = "
                           f"{shortest - motif_length} for length {shortest}, got {distance}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, len(AMINO_ACIDS), size=(count, longest))  # (N, T)
    labels = rng.permutation(np.arange(count) % 2)  # balanced: counts differ by at most one
    lengths = np.full(count, longest) if shortest == longest else rng.integers(shortest, longest + 1, count)
    motif_tokens = np.array([encode(m, "motif") for m in motifs])  # (2, motif_length)
    for row, n, label in zip(tokens, lengths, labels):
        row[n - distance - motif_length:n - distance] = motif_tokens[label]
        row[n:] = PAD
    return SequenceSet(tokens.astype(np.int64), lengths.astype(np.int64), labels.astype(np.int64),
                       [f"seq{i}" for i in range(count)])


def motif_labels(tokens: np.ndarray, lengths: np.ndarray, distance: int,
                 motifs: tuple[str, str] = MOTIFS) -> np.ndarray:
    """The label the motif rule gives each sequence: 0 or 1 for the motif found at `distance`
    from its end, -1 where neither motif is there."""
    motif_length = len(motifs[0])
    out = np.full(len(tokens), -1, dtype=np.int64)
    for i, (row, n) in enumerate(zip(tokens, lengths)):
        window = "".join(AMINO_ACIDS[t] for t in row[n - distance - motif_length:n - distance])
        if window in motifs:
            out[i] = motifs.index(window)
    return out


def encode(residues: str, where: str) -> np.ndarray:
    """Token indices of a residue string; an unknown letter is an error naming `where` and its position."""
    lookup = np.full(128, -1, dtype=np.int64)
    lookup[np.frombuffer(AMINO_ACIDS.encode(), dtype=np.uint8)] = np.arange(len(AMINO_ACIDS))
    lookup[np.frombuffer(AMINO_ACIDS.lower().encode(), dtype=np.uint8)] = np.arange(len(AMINO_ACIDS))
    raw = np.frombuffer(residues.encode("ascii", errors="replace"), dtype=np.uint8)
    tokens = lookup[np.minimum(raw, 127)]
    bad = np.flatnonzero(tokens < 0)
    if len(bad):
        raise NnscopeError(f"{where}: unknown residue {residues[bad[0]]!r} at position {bad[0] + 1}; "
                           f"expected one of the 20 amino acids {AMINO_ACIDS}")
    return tokens


def read_fasta(path: str | Path) -> SequenceSet:
    """Labelled sequences from a FASTA file whose headers read `>id label` with label 0 or 1."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise NnscopeError(f"FASTA file {path}: cannot read it ({e.__class__.__name__}: {e})") from e
    records: list[tuple[str, int, list, int]] = []  # (id, label, [(residues, line number)], header line number)
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith(";"):  # blank lines and old-style comments carry nothing
            continue
        if line.startswith(">"):
            fields = line[1:].split()
            if len(fields) < 2:
                raise NnscopeError(f"FASTA file {path}, line {number}: header {line!r} has no label; "
                                   f"expected '>id label' with label 0 or 1")
            if fields[1] not in ("0", "1"):
                raise NnscopeError(f"FASTA file {path}, line {number}: label {fields[1]!r} of "
                                   f"{fields[0]!r}; expected 0 or 1")
            records.append((fields[0], int(fields[1]), [], number))
        elif not records:
            raise NnscopeError(f"FASTA file {path}, line {number}: residues before the first '>id label' header")
        else:
            records[-1][2].append((line.rstrip("*"), number))  # a final '*' marks the stop codon
    if not records:
        raise NnscopeError(f"FASTA file {path}: no '>id label' record found")
    sequences = []
    for name, _, parts, header_line in records:
        if not "".join(text for text, _ in parts):  # no lines, or only a stop codon '*'
            raise NnscopeError(f"FASTA file {path}, line {header_line}: record {name!r} has no residues")
        residues = np.concatenate([encode(text, f"FASTA file {path}, line {number}") for text, number in parts])
        sequences.append(residues)
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    tokens = np.full((len(sequences), lengths.max()), PAD, dtype=np.int64)
    for row, s in zip(tokens, sequences):
        row[:len(s)] = s
    return SequenceSet(tokens, lengths, np.array([r[1] for r in records], dtype=np.int64),
                       [r[0] for r in records], f"FASTA file {path}")


def write_fasta_text(sequences: SequenceSet) -> str:
    """The FASTA text of `sequences` with `>id label` headers, 60 residues a line."""
    out = []
    for name, label, row, n in zip(sequences.ids, sequences.labels, sequences.tokens, sequences.lengths):
        text = "".join(AMINO_ACIDS[t] for t in row[:n])
        out.append(f">{name} {label}")
        out.extend(text[i:i + 60] for i in range(0, n, 60))
    return "\n".join(out) + "\n"


def one_hot(tokens: np.ndarray | torch.Tensor, dtype=torch.float64) -> torch.Tensor:
    """One-hot inputs x(t), time first: (N, T) tokens -> (T, N, 20); PAD gives a zero vector."""
    tokens = torch.as_tensor(tokens).T  # (T, N)
    x = torch.zeros(*tokens.shape, len(AMINO_ACIDS), dtype=dtype)
    x.scatter_(2, tokens.clamp(min=0).unsqueeze(2), 1.0)
    return x * (tokens >= 0).unsqueeze(2)
