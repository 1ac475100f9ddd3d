"""The answers to Problem 4 (4.1, 4.2, 4.3), written from the measured numbers of `run_longseq`'s result."""

import math

GOOD = 0.9  # test accuracy that counts as "solved"
CHANGE = 3.0  # decades over the sequence beyond which a gradient counts as vanished or exploded


def behaviour(log10_change: float) -> str:
    """'vanishes', 'explodes' or 'is kept' for a change of log10 ||dL/dh|| from tau to 1."""
    if log10_change < -CHANGE:
        return "vanishes"
    if log10_change > CHANGE:
        return "explodes"
    return "is kept"


def decades(value: float) -> str:
    """A base-10 logarithm written as a power of ten."""
    return f"10^{value:+.0f}" if abs(value) >= 10 else f"10^{value:+.1f}"


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
    """4.1: which gradients vanish or explode (W, U, b) and which cannot (V, c), with the rates."""
    grads = result["gradients"]
    rows = longest(grads["rnn"])
    T, k = rows[0]["length"], grads["far"]
    per_radius = "; ".join(
        f"spectral radius {r['spectral_radius']:g}: factor {r['rate']['factor_per_step']:.3f} per step, "
        f"{decades(r['rate']['log10_change_over_sequence'])} from t = tau to t = 1 "
        f"({behaviour(r['rate']['log10_change_over_sequence'])}), "
        f"{r['far_share']['W']:.1%} of dL/dW and {r['far_share']['U']:.1%} of dL/dU from inputs more than {k} steps back"
        for r in rows)
    vanish = [f"{r['spectral_radius']:g}" for r in rows if behaviour(r["rate"]["log10_change_over_sequence"]) == "vanishes"]
    explode = [f"{r['spectral_radius']:g}" for r in rows if behaviour(r["rate"]["log10_change_over_sequence"]) == "explodes"]
    zero = rows[0]["far_share_zero_by_construction"]  # V and c: read from h(tau) alone
    vc = [r["log10_gradient_norm"][p] for r in rows for p in zero if finite(r["log10_gradient_norm"][p])]
    wu = [r["log10_gradient_norm"]["W"] for r in rows if finite(r["log10_gradient_norm"]["W"])]
    text = (f"The hardest parameters are W and U (and b): their gradients are sums over all {T} steps, and the "
            f"term of step t carries the product of the Jacobians diag(1 - h^2) W from tau back to t. Measured "
            f"||dL/dh(t)|| on {T}-step sequences: {per_radius}. ")
    if vanish:
        text += (f"At radius {', '.join(vanish)} the gradient vanishes: the far past gives W and U almost nothing, "
                 f"so a dependency more than {k} steps long cannot be learned. ")
    if explode:
        text += (f"At radius {', '.join(explode)} it explodes: the far past dominates and the norm of dL/dW reaches "
                 f"{decades(max(wu))}, so a gradient step is useless without clipping. ")
    if vc:
        text += (f"{' and '.join(zero)} are read from h(tau) alone: no product over time enters their gradient, "
                 f"whose norm stays between {decades(min(vc))} and {decades(max(vc))} at every radius, and its share "
                 f"from the far past is 0 by construction (not a measurement). They are the easy ones.")
    return text


def reach(rows: list[dict], key=lambda r: r["test_accuracy"]) -> str:
    """The largest distance solved (test accuracy >= GOOD) with every shorter one, in words."""
    solved = None
    for r in sorted(rows, key=lambda r: r["distance"]):
        if key(r) < GOOD:
            break
        solved = r["distance"]
    return f"up to distance {solved}" if solved is not None else "at no distance"


def echo_state(result: dict) -> str:
    """4.2: which weights are fixed, which learned, the echo-state check and the accuracies next to BPTT."""
    esn, trained = result["esn"], result["trained"]
    cfg, check = esn["config"], esn["check"]
    L = trained["length"]
    rows = [r for r in esn["accuracy"] if r["length"] == L]
    prop = (f"holds: from 8 random initial states the reservoir's states meet within {check['tolerance']:g} after "
            f"{check['washout_steps']} steps" if check["holds"] else
            "does NOT hold: states from different initial values never met, so the readout sees the initial state")
    table = "; ".join(
        f"distance {r['distance']}: ESN {r['final']['test_accuracy']:.0%} (mean state {r['mean']['test_accuracy']:.0%}), "
        f"RNN {rnn['test_accuracy']:.0%}, LSTM {lstm['test_accuracy']:.0%}"
        for r, rnn, lstm in zip(rows, trained["rnn"], trained["lstm"]))
    b = trained["budget"]
    return (f"Fixed at random: W ({cfg['size']}x{cfg['size']}, spectral radius {check['spectral_radius']:.2f}, largest "
            f"singular value {check['largest_singular_value']:.2f}), U (entries in +-{cfg['input_scaling']:g}) and b. "
            f"Learned: only V and c, in closed form by ridge regression (lambda {cfg['ridge']:g}) on the final state "
            f"h(tau) or on the mean state. The echo-state property {prop}. Test accuracy on {L}-residue sequences, "
            f"chance 50%: {table}. The vanilla RNN and the LSTM learned W, U, b, V and c by BPTT with the same budget "
            f"({b['updates']} Adam updates of {b['batch_size']} sequences, {b['hidden']} units). Reached "
            f"{GOOD:.0%}: ESN {reach(rows, lambda r: r['final']['test_accuracy'])}, RNN {reach(trained['rnn'])}, "
            f"LSTM {reach(trained['lstm'])}.")


def why_lstm(result: dict) -> str:
    """4.3: the gradient carried by the LSTM's cell state at each forget bias, beside the RNN's."""
    grads = result["gradients"]
    lstm, rnn = longest(grads["lstm"]), longest(grads["rnn"])
    T = lstm[0]["length"]
    per_bias = "; ".join(
        f"forget bias {r['forget_bias']:g}: gate f(t) {r['geometric_mean_forget_gate']:.2f} on average (geometric "
        f"mean), dL/ds {r['cell_rate']['factor_per_step']:.3f} per step, {decades(r['cell_rate']['log10_change_over_sequence'])} "
        f"over the sequence ({behaviour(r['cell_rate']['log10_change_over_sequence'])}), "
        f"{r['far_share']['U_and_W']:.1%} of the gate weights' gradient from more than {grads['far']} steps back"
        for r in lstm)
    by_gate = sorted(lstm, key=lambda r: r["geometric_mean_forget_gate"])
    rates = [r["cell_rate"]["log10_per_step"] for r in by_gate]
    follows = ("The rate follows the forget gate: the more open it is, the further back the gradient reaches."
               if all(a < b for a, b in zip(rates, rates[1:])) else
               "Here the rate does not rise with the forget gate alone: the path through h(t) matters as much.")
    best = max(rnn, key=lambda r: r["far_share"]["W"] if behaviour(r["rate"]["log10_change_over_sequence"]) != "explodes" else -1)
    return (f"The LSTM carries its state additively, s(t) = f(t) s(t-1) + g(t) z(t), so dL/ds(t-1) = f(t) dL/ds(t) + "
            f"(terms through h): the gradient is multiplied by the forget gate, a number between 0 and 1 that the "
            f"network controls, instead of by diag(1 - h^2) W. {compared(grads)} Measured over {T} steps: "
            f"{per_bias}. {follows} Beside it, the RNN that keeps the largest far share without exploding (radius "
            f"{best['spectral_radius']:g}) changes by {best['rate']['factor_per_step']:.3f} per step, with a fixed "
            f"matrix W for every input, while the LSTM's gate depends on the input: it can close to forget and "
            f"open to keep.")


def compared(grads: dict) -> str:
    """What the LSTM of the gradient measurement shares with the RNN beside it, as the study drew them."""
    w = grads["lstm_weights"]
    squash = ("tanh, as the RNN squashes its state (the book's eq. 10.41 uses a sigmoid)"
              if w["cell_activation"] == "tanh" else f"{w['cell_activation']}, as in the book's eq. 10.41")
    return (f"The LSTM's cell input and readout use the RNN's own draws of {', '.join(w['from_rnn'])} (W scaled to "
            f"spectral radius {w['W_spectral_radius']:g}), its cell input is squashed by {squash}, and only the "
            f"gates' own matrices ({', '.join(w['own'])}) are drawn apart, so the LSTMs differ from each other "
            f"in b_f alone.")
