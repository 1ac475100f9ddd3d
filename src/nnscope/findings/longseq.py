"""The answers to Problem 4 (4.1, 4.2, 4.3), written from the measured numbers of `run_longseq`'s result.

Each answer is at most three sentences stating the conclusion; the numbers behind it are the tables
beside it in the report and the command's output.
"""

import math

import numpy as np

GOOD = 0.9  # test accuracy that counts as "solved"
CHANCE_BAND = 0.6  # a median test accuracy below this is chance (0.5; 256 test sequences vary by about 0.03)
CHANGE = 3.0  # decades over the sequence beyond which a gradient counts as vanished or exploded


def behaviour(log10_change: float) -> str:
    """'vanishes', 'explodes' or 'is kept' for a change of log10 ||dL/dh|| from tau to 1."""
    if log10_change < -CHANGE:
        return "vanishes"
    if log10_change > CHANGE:
        return "explodes"
    return "is kept"


def power_of_ten(log10_value: float) -> str:
    """10^v as a reader writes it: 0.0631 or 250 for small powers, 1e-1533 or 1e+302 beyond float64's reach."""
    if abs(log10_value) < 4:
        return f"{10.0 ** log10_value:.3g}"
    return f"1e{log10_value:+.0f}"


QUESTIONS = {"4.1": "Which parameters are hardest to learn, and why?",
             "4.2": "As an echo state network: which weights are fixed, which are learned?",
             "4.3": "Why does an LSTM cell help?"}


def longseq_answers(result: dict) -> dict[str, str]:
    """The three answers of the study, by question number, each citing the measured figures."""
    return {"4.1": hard_parameters(result), "4.2": echo_state(result), "4.3": why_lstm(result)}


def describe_longseq(result: dict) -> list[str]:
    """The sentences of a `run_longseq` result: the three answers, or what the ESN did on a FASTA file."""
    if "records" in result:
        return [fasta_echo_state(result)]
    return list(result["answers"].values())


def answers_markdown(result: dict) -> str:
    """The answers as a small Markdown page."""
    parts = [f"# Problem 4: long sequences (seed {result['seed']})\n"]
    parts += [f"## {key} {QUESTIONS[key]}\n\n{text}\n" for key, text in result["answers"].items()]
    return "\n".join(parts)


def fasta_echo_state(result: dict) -> str:
    """What the echo state network did on the user's labelled sequences."""
    lengths = result["lengths"]
    return (f"The echo state network on {result['fasta']}: {result['train']} training and {result['test']} test "
            f"records of {lengths['min']} to {lengths['max']} residues. Fixed at random: {', '.join(result['fixed'])}; "
            f"learned: {', '.join(result['learned'])}, by ridge regression. Test accuracy "
            f"{result['final']['test_accuracy']:.1%} from the final state (train {result['final']['train_accuracy']:.1%}) "
            f"and {result['mean']['test_accuracy']:.1%} from the mean state (train "
            f"{result['mean']['train_accuracy']:.1%}).")


def finite(value) -> bool:
    """Whether a result value is a finite number (a log10 of an exact zero is None in results)."""
    return value is not None and math.isfinite(value)


def longest(rows: list[dict]) -> list[dict]:
    """The rows measured on the longest sequences."""
    length = max(r["length"] for r in rows)
    return [r for r in rows if r["length"] == length]


def hard_parameters(result: dict) -> str:
    """4.1: W, U (and b) cannot learn a long dependency, V and c can; the rates per spectral radius."""
    grads = result["gradients"]
    rows = longest(grads["rnn"])
    T, k = rows[0]["length"], grads["far"]
    vanish = [r for r in rows if behaviour(r["rate"]["log10_change_over_sequence"]) == "vanishes"]
    explode = [r for r in rows if behaviour(r["rate"]["log10_change_over_sequence"]) == "explodes"]
    zero = rows[0]["far_share_zero_by_construction"]  # V and c: read from h(tau) alone
    first = (f"W and U (and b) are the hard ones: each step t adds a term to their gradient that carries the product of "
             f"diag(1 - h^2) W from tau back to t, so over {T} steps ||dL/dh(t)|| changes by the factor per step "
             f"of the table, set by the spectral radius of W.")
    parts = []
    if vanish:
        worst = min(vanish, key=lambda r: r["far_share"]["W"])
        parts.append(f"at radius {radii(vanish)} it vanishes (at "
                     f"{worst['spectral_radius']:g}: {power_of_ten(worst['rate']['log10_change_over_sequence'])} over the "
                     f"sequence, {worst['far_share']['W']:.2g} of dL/dW from more than {k} steps back), so a long "
                     f"dependency gives W and U no signal")
    if explode:
        big = max(explode, key=lambda r: r["log10_gradient_norm"]["W"] or -math.inf)
        parts.append(f"at radius {radii(explode)} it explodes (||dL/dW|| up to "
                     f"{power_of_ten(big['log10_gradient_norm']['W'])}), so no step size can use it")
    second = ("Measured: " + "; ".join(parts) + ".") if parts else         f"Measured: at these radii the gradient neither vanished nor exploded over {T} steps."
    third = (f"{' and '.join(zero)} act on h(tau) alone, so no product over time enters their gradient: their share "
             f"from the far past is 0 by construction and they are the easy ones.")
    return " ".join([first, second, third])


def radii(rows: list[dict]) -> str:
    """The spectral radii of some gradient rows, as a list in words."""
    return ", ".join(f"{r['spectral_radius']:g}" for r in rows)


def reach(rows: list[dict], key=lambda r: r["test_accuracy"]) -> str:
    """The largest distance solved (test accuracy >= GOOD) with every shorter one, in words."""
    solved = reached(rows, key)
    return f"up to distance {solved}" if solved is not None else "at no distance"


def reached(rows: list[dict], key=lambda r: r["test_accuracy"]) -> int | None:
    """The largest distance solved (test accuracy >= GOOD) with every shorter one; None if the first is not."""
    solved = None
    for r in sorted(rows, key=lambda r: r["distance"]):
        if key(r) < GOOD:
            break
        solved = r["distance"]
    return solved


def median(row: dict) -> float:
    """The median test accuracy over a trained setup's seeds."""
    return float(np.median(row["test_accuracy"]))


def echo_state(result: dict) -> str:
    """4.2: which weights are fixed, which learned, and where the reservoir's memory ends."""
    esn = result["esn"]
    cfg, check = esn["config"], esn["check"]
    rows = esn["accuracy"]
    solved = reached(rows, lambda r: r["final"]["test_accuracy"])
    beyond = [r for r in sorted(rows, key=lambda r: r["distance"]) if solved is None or r["distance"] > solved]
    first = (f"Fixed at random: W ({cfg['size']}x{cfg['size']}, spectral radius {check['spectral_radius']:.2f}), U and b; "
             f"learned: only V and c, in closed form by ridge regression on h(tau), so nothing is back-propagated "
             f"through time and nothing vanishes.")
    if solved is None:
        second = f"It solved no distance of the table (test accuracy below {GOOD:.0%} already at distance {rows[0]['distance']})"
    else:
        second = f"It solves the task up to distance {solved} (test accuracy {GOOD:.0%} or more)"
    if beyond:
        second += (f" and falls to {beyond[0]['final']['test_accuracy']:.0%} at distance {beyond[0]['distance']} "
                   f"(chance 50%): its memory ends there")
    else:
        second += " and at every distance measured"
    memory = esn.get("memory_steps")
    second += (f", as the state forgets by the spectral radius per step (1/(1 - {cfg['spectral_radius']:g}) = "
               f"{memory:.0f} steps)." if memory else ".")
    prop = (f"The echo-state property holds: states from 8 random starts meet within {check['tolerance']:g} after "
            f"{check['washout_steps']} steps." if check["holds"] else
            "The echo-state property does NOT hold: states from different starts never met.")
    return " ".join([first, second, prop])


def why_lstm(result: dict) -> str:
    """4.3: the forget gate carries the gradient, and what the same training budget gave the RNN and the LSTM."""
    grads, trained = result["gradients"], result["trained"]
    lstm = longest(grads["lstm"])
    cells = ", ".join(f"{r['cell_rate']['factor_per_step']:.3f} at b_f = {r['forget_bias']:g}" for r in lstm)
    first = (f"The LSTM carries its state additively, s(t) = f(t) s(t-1) + g(t) z(t), so dL/ds is multiplied per step "
             f"by the forget gate f(t), which the network sets, instead of by diag(1 - h^2) W (measured over "
             f"{lstm[0]['length']} steps: {cells}).")
    b = trained["budget"]
    budget = (f"{b['updates']} Adam updates of {b['batch_size']} sequences, {b['hidden']} units, "
              f"{trained['seeds']} seeds each, {trained['length']}-residue sequences")
    rnn = {r["distance"]: r for r in trained["rnn"]}
    usual = min(trained["forget_biases"], key=lambda v: abs(v - 1.0))  # the usual start, b_f = 1
    wins = [(d, r, next(l for l in trained["lstm"] if l["distance"] == d and l.get("forget_bias") == bias))
            for bias in [usual] + [v for v in trained["forget_biases"] if v != usual]
            for d, r in rnn.items()]
    wins = [(d, r, l) for d, r, l in wins if median(r) < CHANCE_BAND and median(l) >= GOOD]
    if wins:
        d, r, l = wins[0]
        second = (f"With one budget ({budget}), at distance {d} the RNN stays at chance (median test accuracy "
                  f"{median(r):.0%}) while the LSTM with b_f = {l['forget_bias']:g} learns it (median {median(l):.0%}, "
                  f"{solved_seeds(l)} of {trained['seeds']} seeds at {GOOD:.0%} or more).")
        third = ("An open forget gate lets the error signal from the motif reach the step that must store it; "
                 "the RNN's W cannot be both small enough not to explode and large enough to keep it.")
    else:
        # the distance where the best LSTM leads the RNN most
        d, r, l = max(((d, r, l) for d, r in rnn.items() for l in trained["lstm"] if l["distance"] == d),
                      key=lambda drl: median(drl[2]) - median(drl[1]))
        second = (f"Within this budget ({budget}) no distance had the RNN at chance and an LSTM at {GOOD:.0%}: the "
                  f"largest gap is at distance {d}, RNN {median(r):.0%}, LSTM with b_f = {l['forget_bias']:g} "
                  f"{median(l):.0%} (medians over seeds).")
        f = 1 / (1 + math.exp(-usual))
        if median(l) < GOOD:
            third = (f"Why: with b_f = {usual:g} the gate starts at f = {f:.2f}, so the gradient from {d} steps back is "
                     f"scaled by about {power_of_ten(d * math.log10(f))} before training opens it; more updates or a "
                     f"larger b_f are needed.")
        else:
            third = (f"Why: at distance {d} the RNN's own gradient still reaches the motif (it is above chance), so "
                     f"a longer distance is needed to separate the two.")
    return " ".join([first, second, third])


def solved_seeds(row: dict) -> int:
    """How many seeds of a trained setup reached GOOD test accuracy."""
    return int(sum(a >= GOOD for a in row["test_accuracy"]))
