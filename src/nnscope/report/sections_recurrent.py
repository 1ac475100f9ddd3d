"""Report stages of Problems 3, 4 and 5: thin adapters over nnscope.recurrent (the functions behind
`nnscope rnn`, `nnscope lstm` and `nnscope longseq`), with answers built from their numbers."""

import numpy as np

from nnscope.report.context import Context, figure


def rnn_section(ctx: Context) -> dict:
    """Problem 3: outputs, loss, dL/db both ways, one step on b, the new loss (as `nnscope rnn`)."""
    from nnscope.recurrent.params import load_rnn_params
    from nnscope.recurrent.rnn import rnn_solution

    result = rnn_solution(load_rnn_params(None))
    result["answer"] = rnn_answer(result)
    result["figures"] = []
    return result


def rnn_answer(r: dict) -> list[str]:
    """Sentences built from an `rnn_solution` result."""
    T = r["sizes"]["T"]
    g, fd = np.asarray(r["grad_b_bptt"]), np.asarray(r["grad_b_finite_difference"])
    lr, drop = r["learning_rate"], r["loss"] - r["loss_after_step"]
    predicted = lr * float(g @ g)  # first-order prediction of the decrease: eta * |dL/db|^2
    big = int(np.argmax(np.abs(g)))
    ratio = abs(g[big]) / max(abs(g[1 - big]), 1e-300) if len(g) == 2 else float("nan")
    y1, y2 = r["outputs"][-1]
    square, log_term = (y1 - 0.5) ** 2, -np.log(y2)
    larger = f"-log y_2({T})" if log_term > square else f"(y_1({T}) - 0.5)²"
    lines = [
        f"On the last step y({T}) = [{y1:.8f}, {y2:.8f}], so L = (y_1 - 0.5)² - log y_2 = {square:.6f} + "
        f"{log_term:.6f} = {r['loss']:.12g}; the larger term is {larger}.",
        f"Unfolding through time gives dL/db = [{g[0]:.9g}, {g[1]:.9g}]; central differences with "
        f"ε = {r['epsilon']:g} give [{fd[0]:.9g}, {fd[1]:.9g}]: relative error "
        f"{r['bptt_vs_finite_difference_relative_error']:.1e}; reverse and forward mode agree to "
        f"{r['reverse_vs_forward_mode_relative_error']:.1e}.",
    ]
    if len(g) == 2:
        lines.append(f"b_{big + 1} matters most: |dL/db_{big + 1}| is {ratio:.1f} times |dL/db_{2 - big}|.")
    after = r["b_after_step"]
    lines.append(
        f"One gradient step with learning rate {lr:g} moves b from {fmt_vector(r['b_before_step'])} to "
        f"{fmt_vector(after, 8)}; the loss goes from {r['loss']:.11f} to {r['loss_after_step']:.11f}, "
        f"{'down' if drop > 0 else 'up'} by {abs(drop):.3e} (first-order prediction η‖dL/db‖² = {predicted:.3e}).")
    return lines


def fmt_vector(v, digits: int = 4) -> str:
    """[a, b] with `digits` decimals."""
    return "[" + ", ".join(f"{x:.{digits}f}" for x in v) + "]"


def lstm_section(ctx: Context) -> dict:
    """Problem 5: the LSTM cell's outputs, loss and dL/db_f through time (as `nnscope lstm`)."""
    from nnscope.recurrent.lstm import lstm_solution
    from nnscope.recurrent.params import load_lstm_params

    result = lstm_solution(load_lstm_params(None))
    result["answer"] = lstm_answer(result)
    result["figures"] = []
    return result


def lstm_answer(r: dict) -> list[str]:
    """Sentences built from an `lstm_solution` result (its own bias explanation first)."""
    T = r["sizes"]["T"]
    g, fd = r["grad_b_f_bptt"], r["grad_b_f_finite_difference"]
    y = r["outputs"][-1]
    lower = "lower" if r["loss"] < r["rnn_loss_same_parameters"] else "higher"
    return [*r["bias_choice"],
            f"With these biases y({T}) = [{y[0]:.8f}, {y[1]:.8f}] and L = {r['loss']:.12g}, {lower} than the "
            f"RNN's {r['rnn_loss_same_parameters']:.12g} on the same b, c, U, W, V and sequence.",
            f"Unfolding through time gives dL/db_f = [{g[0]:.9g}, {g[1]:.9g}]; central differences give "
            f"[{fd[0]:.9g}, {fd[1]:.9g}] (relative error {r['bptt_vs_finite_difference_relative_error']:.1e})."]


def longseq_config(quick: bool, seed: int):
    """The study of `nnscope longseq` with its defaults, or a small one (short sequences, few models) for tests."""
    from dataclasses import replace

    from nnscope.recurrent.longseq_study import LongSeqConfig

    config = LongSeqConfig(seed=seed)
    if quick:
        config = replace(config, lengths=(200, 1000), distances=(0, 20, 100), spectral_radii=(0.5, 1.0, 1.5),
                         forget_biases=(0.0, 1.0), hidden=8, train_count=64, test_count=64,
                         budget=replace(config.budget, updates=8, hidden=8, seed=seed))
    config.budget = replace(config.budget, seed=seed)
    return config.check()


def longseq_section(ctx: Context) -> dict:
    """Problem 4: gradients through thousands of steps, the echo state network, the LSTM (as `nnscope longseq`)."""
    from nnscope.recurrent.longseq_study import run_longseq_study
    from nnscope.report.figures_longseq import longseq_figures

    def progress(stage: str, total: int):
        done = [0]

        def advance(n: int = 1, info: str = "") -> None:
            done[0] += n
            ctx.progress(done[0], total, f"{stage} {info}".strip())
        return advance

    result = run_longseq_study(longseq_config(ctx.quick, ctx.seed), progress=progress)
    paths = longseq_figures(result, ctx.out)
    alts = {
        "gradient_norms": ("Log-scale curves of the gradient norm ||dL/dh(t)|| from the last step back to the first, "
                           "for the RNN at several spectral radii of W and the LSTM at several forget-gate biases.",
                           "4.1 and 4.3: how far back the gradient reaches."),
        "gradient_shares": ("Share of dL/dW and dL/dU that comes from inputs far before the end, against the "
                            "spectral radius, beside dL/dV and dL/dc.", "4.1: which parameters learn from the far past."),
        "accuracy": ("Test accuracy against the distance of the motif from the end for the echo state network, "
                     "a vanilla RNN and an LSTM trained with the same budget.", "4.2 and 4.3: who solves the task."),
    }
    result["figures"] = [figure(ctx.out, path, *alts.get(name, (name.replace("_", " "), "")))
                         for name, path in paths.items()]
    return result
