"""`nnscope rnn`: Problem 3, back-propagation through time by hand, every step shown and checked."""

import functools
from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, options_from_args
from nnscope.cli.tables import print_table
from nnscope.options.rnn import RNNOptions


AGREE = 1e-4  # largest relative error between BPTT and central differences that the heading calls checked


def register(subparsers) -> None:
    """Add `nnscope rnn` and its options."""
    parser = add_command(
        subparsers, "rnn",
        description="The recurrent network of the Deep Learning book (eqs. 10.8-10.11) with the loss "
        "L = (y_1(T) - 0.5)^2 - log y_2(T): outputs y(t), the loss, dL/db by central differences and by "
        "unfolding through time (reverse mode and forward mode), the gradients of b, c, W, U, V, one "
        "gradient step on b and the new loss.\nParameter file (JSON): b (n), c (2), W (n x n), U (n x d), "
        "V (2 x n), x (T lists of d numbers); optional h0 (n, default zeros), learning_rate (default 0.002), "
        "epsilon (default 0.0001).",
        run=run, show=show,
    )
    add_params_options(parser)


def add_params_options(parser) -> None:
    """--params FILE and --explain, shared with `nnscope lstm`."""
    parser.add_argument("--params", type=Path, default=RNNOptions.params, metavar="FILE",
                        help="JSON parameter file; without it, the values of Problem 3")
    parser.add_argument("--explain", action="store_true",
                        help="add the chain-rule formula each row applies, next to the numbers")


def run(args) -> dict:
    """Check the options, then load the parameters and compute the worked solution."""
    options = options_from_args(RNNOptions, args)
    options.check()
    # torch and matplotlib: only once the options are valid (start-up)
    from nnscope.recurrent.rnn import run_rnn

    args.show = functools.partial(show, explain=args.explain)
    return run_rnn(None, None, options)


# ---- formatting shared with `nnscope lstm` ----

def number(v: float) -> str:
    """A value to 10 significant digits."""
    return f"{v + 0.0:.10g}"  # + 0.0 turns -0.0 into 0.0


def array_text(v) -> str:
    """A vector or matrix (array or nested lists) as nested brackets of 10-digit numbers."""
    v = v.tolist() if hasattr(v, "tolist") else v
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(array_text(row) for row in v) + "]"
    return number(float(v))


def make_table(title: str, explain: bool, first: str = "quantity") -> Table:
    """A two- or three-column table: label, value, and with --explain the formula."""
    table = Table(first, "value", title=title, title_justify="left")
    if explain:
        table.add_column("formula (--explain)", style="cyan")
    return table


def add_row(table: Table, explain: bool, label: str, value, formula: str = "", end_section: bool = False) -> None:
    """One labelled value, with its formula when explaining."""
    cells = [label, value if isinstance(value, str) else array_text(value)] + ([formula] if explain else [])
    table.add_row(*cells, end_section=end_section)


def gradient_check_table(result: dict, name: str, explain: bool) -> Table:
    """dL/d`name` by BPTT beside central differences, with their relative error."""
    error = result["bptt_vs_finite_difference_relative_error"]
    verdict = "checked by central differences" if error <= AGREE else \
        f"and central differences DISAGREE (relative error {error:.1e}; try another epsilon)"
    table = make_table(f"dL/d{name}: unfolding through time {verdict}", explain, "method")
    T = result["sizes"]["T"]
    add_row(table, explain, "central differences (ε = " + number(result["epsilon"]) + ")",
            result[f"grad_{name}_finite_difference"], f"(L({name} + ε e_i) − L({name} − ε e_i)) / 2ε, per entry i")
    add_row(table, explain, "BPTT, reverse mode", result[f"grad_{name}_bptt"],
            f"Σ_t dL/da(t), t = {T} down to 1" if name == "b" else f"Σ_t dL/d{name}(t), t = {T} down to 1")
    if f"grad_{name}_forward_mode" in result:
        add_row(table, explain, "BPTT, forward mode", result[f"grad_{name}_forward_mode"],
                f"(dh({T})/db)ᵀ dL/dh({T})")
    add_row(table, explain, "relative error, BPTT vs differences",
            f"{result['bptt_vs_finite_difference_relative_error']:.2e}",
            "‖g_bptt − g_diff‖ / max(‖g_bptt‖, ‖g_diff‖); differences err by O(ε²)")
    return table


def loss_text(result: dict) -> str:
    """The loss line with the values it is made of."""
    T = result["sizes"]["T"]
    y = result["outputs"][-1]
    return (f"L = (y_1({T}) − 0.5)² − log y_2({T}) = ({number(y[0])} − 0.5)² − log {number(y[1])} "
            f"= [bold]{result['loss']!r}[/bold]")


# ---- the human view ----

def show(result: dict, console, explain: bool = False) -> None:
    """Print the worked solution as labelled tables; `explain` adds each row's formula."""
    n, d, T = (result["sizes"][k] for k in "ndT")
    steps = result["steps"]
    console.print(f"[bold]RNN of DL book eqs. 10.8-10.11[/bold]: n = {n} hidden units, d = {d} inputs, "
                  f"T = {T} steps, h(0) = {array_text(result['h0'])}", highlight=False)

    table = make_table("1. forward pass", explain)
    for s in steps:
        t = s["t"]
        add_row(table, explain, f"x({t})", s["x"], "input")
        add_row(table, explain, f"a({t})", s["a"], f"b + W h({t - 1}) + U x({t})")
        add_row(table, explain, f"h({t})", s["h"], f"tanh(a({t}))")
        add_row(table, explain, f"o({t})", s["o"], f"c + V h({t})")
        add_row(table, explain, f"y({t})", s["y"], f"softmax(o({t}))", end_section=True)
    print_table(console, table)
    console.print(loss_text(result), highlight=False)

    table = make_table(f"2. dL/db by unfolding through time, reverse mode (t = {T} down to 1)", explain)
    add_row(table, explain, f"dL/dy({T})", result["dL_dy_T"], f"[2 (y_1({T}) − 0.5), −1 / y_2({T})]")
    add_row(table, explain, f"dL/do({T})", result["dL_do_T"],
            f"y({T}) ⊙ (dL/dy({T}) − y({T})·dL/dy({T})), the softmax Jacobian", end_section=True)
    for s in reversed(steps):
        t = s["t"]
        via = f"Vᵀ dL/do({T}), only o({T}) enters L" if t == T else f"Wᵀ dL/da({t + 1})"
        add_row(table, explain, f"dL/dh({t})", s["dL_dh"], via)
        add_row(table, explain, f"dL/da({t})", s["dL_da"], f"dL/dh({t}) ⊙ (1 − h({t})²), tanh' = 1 − tanh²")
        add_row(table, explain, f"step {t}'s share of dL/db", s["dL_db_contribution"],
                f"dL/da({t}) ∂a({t})/∂b, and ∂a({t})/∂b = I")
        add_row(table, explain, f"dL/db summed over t = {T}..{t}", s["dL_db_sum_from_T_down_to_t"],
                f"Σ_(k={t}..{T}) dL/da(k)", end_section=True)
    print_table(console, table)

    table = make_table("3. the same dL/db in forward mode (sensitivities carried from t = 1 up)", explain)
    for s in steps:
        t = s["t"]
        add_row(table, explain, f"da({t})/db", s["da_db"], "I" if t == 1 else f"I + W dh({t - 1})/db")
        add_row(table, explain, f"dh({t})/db", s["dh_db"], f"diag(1 − h({t})²) da({t})/db", end_section=True)
    add_row(table, explain, "dL/db", result["grad_b_forward_mode"], f"(dh({T})/db)ᵀ dL/dh({T})")
    print_table(console, table)

    print_table(console, gradient_check_table(result, "b", explain))

    grads = result["grads"]
    table = make_table("4. gradients of every parameter (reverse mode)", explain)
    formulas = {"b": "Σ_t dL/da(t)", "c": f"dL/do({T})", "W": "Σ_t dL/da(t) h(t−1)ᵀ",
                "U": "Σ_t dL/da(t) x(t)ᵀ", "V": f"dL/do({T}) h({T})ᵀ"}
    for name, formula in formulas.items():
        add_row(table, explain, f"dL/d{name}", grads[name], formula)
    print_table(console, table)

    lr = result["learning_rate"]
    table = make_table(f"5. one gradient-descent step on b (learning rate η = {number(lr)})", explain)
    add_row(table, explain, "b before", result["b_before_step"])
    add_row(table, explain, "b after", result["b_after_step"], "b − η dL/db (BPTT gradient)")
    add_row(table, explain, "L before", repr(result["loss"]))
    add_row(table, explain, "L after", repr(result["loss_after_step"]), "the forward pass again, new b")
    change = result["loss_after_step"] - result["loss"]
    predicted = result["loss_change_first_order_prediction"] + 0.0  # + 0.0 turns -0.0 into 0.0
    add_row(table, explain, "change in L", f"{change:.6e} (first-order prediction {predicted:.6e})",
            "L(b − η g) − L(b) ≈ −η ‖g‖²")
    print_table(console, table)
    show_finding(result, console)


def show_finding(result: dict, console) -> None:
    """The sentences built from the numbers, one paragraph each."""
    for line in result["finding"]:
        console.print(line, highlight=False)
