"""`nnscope lstm`: Problem 5, an LSTM cell in place of the recurrence, dL/db_f through time by hand."""

import functools

from nnscope.cli.common import add_command, options_from_args
from nnscope.cli.rnn import add_params_options, add_row, array_text, gradient_check_table, loss_text, make_table
from nnscope.cli.tables import print_table
from nnscope.options.lstm import CELL_ACTIVATIONS, LSTMOptions


def register(subparsers) -> None:
    """Add `nnscope lstm` and its options."""
    parser = add_command(
        subparsers, "lstm",
        description="Problem 3's network with its recurrence replaced by the LSTM cell of the Deep Learning "
        "book (eqs. 10.40-10.44): outputs, the loss L = (y_1(T) - 0.5)^2 - log y_2(T), dL/db_f by unfolding "
        "through time with every intermediate, the central-difference check, the other biases' gradients.\n"
        "Parameter file: the fields of 'nnscope rnn' plus optional b_f (default 1 per unit), b_g, b_o "
        "(default 0), U_f, W_f, U_g, W_g, U_o, W_o (default: U and W), s0 (default zeros) and "
        "cell_activation (sigmoid as in the book, or tanh).",
        run=run, show=show,
    )
    add_params_options(parser)
    parser.add_argument("--cell-activation", choices=CELL_ACTIVATIONS, default=LSTMOptions.cell_activation,
                        help="squashing of the cell input; without it, the file's cell_activation, else sigmoid "
                        "(the book's eq. 10.41)")


def run(args) -> dict:
    """Check the options, then load the parameters and compute the worked solution."""
    options = options_from_args(LSTMOptions, args)
    options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.recurrent.lstm import run_lstm

    args.show = functools.partial(show, explain=args.explain)
    return run_lstm(None, None, options)


def show(result: dict, console, explain: bool = False) -> None:
    """Print the worked solution as labelled tables; `explain` adds each row's formula."""
    n, d, T = (result["sizes"][k] for k in "ndT")
    act = "σ" if result["cell_activation"] == "sigmoid" else "tanh"
    steps = result["steps"]
    console.print(f"[bold]LSTM of DL book eqs. 10.40-10.44[/bold] in place of Problem 3's recurrence: n = {n}, "
                  f"d = {d}, T = {T}, cell input squashed by {result['cell_activation']}, "
                  f"h(0) = {array_text(result['h0'])}, s(0) = {array_text(result['s0'])}", highlight=False)
    table = make_table("biases and why", explain=False)
    for name, value in result["biases"].items():
        add_row(table, False, name, value)
    print_table(console, table)
    for line in result["bias_choice"]:
        console.print(f"  • {line}", highlight=False)

    table = make_table("1. forward pass", explain)
    for s in steps:
        t, p = s["t"], s["t"] - 1
        add_row(table, explain, f"x({t})", s["x"], "input")
        add_row(table, explain, f"f({t})", s["f"], f"σ(b_f + U_f x({t}) + W_f h({p}))  forget gate")
        add_row(table, explain, f"g({t})", s["g"], f"σ(b_g + U_g x({t}) + W_g h({p}))  input gate")
        add_row(table, explain, f"q({t})", s["q"], f"σ(b_o + U_o x({t}) + W_o h({p}))  output gate")
        add_row(table, explain, f"cell input({t})", s["cell_input"], f"{act}(b + U x({t}) + W h({p}))")
        add_row(table, explain, f"s({t})", s["s"], f"f({t}) ⊙ s({p}) + g({t}) ⊙ cell input({t})")
        add_row(table, explain, f"h({t})", s["h"], f"tanh(s({t})) ⊙ q({t})")
        add_row(table, explain, f"y({t})", s["y"], f"softmax(c + V h({t}))", end_section=True)
    print_table(console, table)
    console.print(loss_text(result) + f"   (Problem 3's RNN with the same b, c, U, V, W: "
                  f"{result['rnn_loss_same_parameters']!r})", highlight=False)

    table = make_table(f"2. dL/db_f by unfolding through time (t = {T} down to 1)", explain)
    add_row(table, explain, f"dL/do({T})", result["dL_do_T"],
            f"y({T}) ⊙ (dL/dy({T}) − y({T})·dL/dy({T})), dL/dy({T}) = [2 (y_1 − 0.5), −1 / y_2]", end_section=True)
    slope = "cell input ⊙ (1 − cell input)" if act == "σ" else "(1 − cell input²)"
    for s in reversed(steps):
        t, p = s["t"], s["t"] - 1
        via = f"Vᵀ dL/do({T})" if t == T else \
            f"Σ over f, g, q, cell input of W_*ᵀ dL/da_*({t + 1})"
        add_row(table, explain, f"dL/dh({t})", s["dL_dh"], via)
        later = "" if t == T else f" + dL/ds({t + 1}) ⊙ f({t + 1})"
        add_row(table, explain, f"dL/ds({t})", s["dL_ds"], f"dL/dh({t}) ⊙ q({t}) ⊙ (1 − tanh²(s({t}))){later}")
        add_row(table, explain, f"dL/dq({t})", s["dL_dq"], f"dL/dh({t}) ⊙ tanh(s({t}))")
        add_row(table, explain, f"dL/dg({t})", s["dL_dg"], f"dL/ds({t}) ⊙ cell input({t})")
        add_row(table, explain, f"dL/dcell input({t})", s["dL_dcell_input"],
                f"dL/ds({t}) ⊙ g({t}), then × {slope} for its pre-activation")
        add_row(table, explain, f"dL/df({t})", s["dL_df"], f"dL/ds({t}) ⊙ s({p})")
        add_row(table, explain, f"step {t}'s share of dL/db_f", s["dL_db_f_contribution"],
                f"dL/df({t}) ⊙ f({t}) ⊙ (1 − f({t})), σ' = σ (1 − σ)")
        add_row(table, explain, f"dL/db_f summed over t = {T}..{t}", s["dL_db_f_sum_from_T_down_to_t"],
                f"Σ_(k={t}..{T}) dL/df(k) ⊙ f(k) ⊙ (1 − f(k))", end_section=True)
    print_table(console, table)

    print_table(console, gradient_check_table(result, "b_f", explain))

    grads = result["grads"]
    table = make_table("3. gradients of the other parameters (reverse mode), biases checked by differences", explain)
    for name in ("b_g", "b_o", "b"):
        add_row(table, explain, f"dL/d{name}", grads[name], f"Σ_t dL/da_{name[2:] or 'z'}(t)")
        add_row(table, explain, f"  central differences, dL/d{name}", result["other_biases_finite_difference"][name],
                f"relative error {result['other_biases_relative_error'][name]:.1e}", end_section=name == "b")
    shared = result["shared_gate_matrices"]
    formulas = {"c": f"dL/do({T})", "V": f"dL/do({T}) h({T})ᵀ", "U": "Σ_t dL/da_z(t) x(t)ᵀ",
                "W": "Σ_t dL/da_z(t) h(t−1)ᵀ"}
    for name, formula in formulas.items():
        sharing = [m for m in shared if m[0] == name]
        add_row(table, explain, f"dL/d{name}", grads[name],
                formula + (f", plus the gates that use {name} as {', '.join(sharing)}" if sharing else ""))
    for name in ("U_f", "W_f", "U_g", "W_g", "U_o", "W_o"):
        if name in grads:
            add_row(table, explain, f"dL/d{name}", grads[name], "its own gate's share")
    print_table(console, table)
    for line in result["finding"][len(result["bias_choice"]):]:  # the bias lines are printed above
        console.print(line, highlight=False)
