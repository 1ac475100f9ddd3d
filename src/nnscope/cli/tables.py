"""Tables that fit the terminal they are printed to, down to 80 columns, with every word whole.

rich squeezes a table that is too wide by cutting cells ("9…", "layer1.co…"). `print_table` instead
chooses, in this order: the table as it is; its columns narrowed to no less than their longest word
(cells wrap between words); its columns split over several tables that repeat the first (key) column;
the table turned on its side, one block of `header  value` lines per row. A word wider than the whole
terminal is folded onto the next line, never cut.

Widths are rich's own measurements (`Table._measure_column`, `_extra_width`, `_get_padding_width`, the
columns' `_cells`: internal names, stable since rich 10; tests/test_cli_tables.py catches a change).
"""

import copy
import dataclasses

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table

WIDE = 100_000  # characters: a width at which nothing is squeezed, to measure a table's natural widths


def print_table(console: Console, table: Table) -> None:
    """Print `table` so that it fits `console.width` with whole words (see the module's docstring)."""
    console.print(fitted(table, console), highlight=False)


def fitted(table: Table, console: Console, width: int | None = None) -> RenderableType:
    """`table` made to fit `width` characters (default: the console's): itself with set column widths,
    several tables of fewer columns, or the table turned on its side."""
    width = console.width if width is None else width
    if table_minimum(table, console) <= width or len(table.columns) < 3:
        return narrowed(table, console, width)
    parts = column_groups(table, console, width)
    if parts is not None:
        return Group(*(narrowed(part, console, width) for part in parts))
    return narrowed(on_its_side(table), console, width)


def column_widths(table: Table, console: Console) -> list[Measurement]:
    """Each column's narrowest (its longest word) and natural width, cell padding included."""
    options = console.options.update_width(WIDE)
    return [table._measure_column(console, options, column) for column in table.columns]


def table_minimum(table: Table, console: Console) -> int:
    """The narrowest `table` can be drawn with every word whole: borders and padding included."""
    return sum(m.minimum for m in column_widths(table, console)) + table._extra_width


def table_natural(table: Table, console: Console) -> int:
    """The width of `table` with no cell wrapped: borders and padding included."""
    return sum(m.maximum for m in column_widths(table, console)) + table._extra_width


def narrowed(table: Table, console: Console, width: int) -> Table:
    """`table` with its columns wrapping between words (folding a word only if it is wider than `width`) and,
    if its natural width is over `width`, each column's width set: its longest word plus an even share of
    what is left, up to what its cells take unwrapped, then up to what its header does (rich itself would cut
    words to fit)."""
    table = copy.copy(table)
    table.columns = [dataclasses.replace(c, overflow="fold", no_wrap=False, _cells=list(c._cells))
                     for c in table.columns]
    measured = column_widths(table, console)
    room = width - table._extra_width
    if sum(m.maximum for m in measured) <= room:
        return table
    widths = [m.minimum for m in measured]
    while sum(widths) > room and max(widths) > 1:  # a word wider than the terminal: the widest folds
        widths[widths.index(max(widths))] -= 1
    # first the cells unwrapped (headers wrap before values do), then the headers
    headless = copy.copy(table)
    headless.show_header = False
    for natural in ([m.maximum for m in column_widths(headless, console)], [m.maximum for m in measured]):
        shares = water_filled(room - sum(widths), [max(0, n - w) for n, w in zip(natural, widths)])
        widths = [w + share for w, share in zip(widths, shares)]
    for column, w in zip(table.columns, widths):
        column.width = max(1, w - table._get_padding_width(column._index))
    return table


def water_filled(spare: int, wants: list[int]) -> list[int]:
    """`spare` characters shared out evenly, no column getting more than it `wants`: the columns that want
    little are drawn whole, the widest ones wrap."""
    shares = [0] * len(wants)
    while spare > 0:
        hungry = [i for i, want in enumerate(wants) if shares[i] < want]
        if not hungry:
            break
        each = max(1, spare // len(hungry))
        for i in hungry:
            given = min(each, wants[i] - shares[i], spare)
            shares[i] += given
            spare -= given
    return shares


def column_groups(table: Table, console: Console, width: int) -> list[Table] | None:
    """The table split into several, each with the first column and as many of the next as fit `width`;
    None if the first column and any one other do not fit together."""
    if len(table.columns) < 3:
        return None
    groups, current = [], []
    for index in range(1, len(table.columns)):
        if table_minimum(with_columns(table, [0, *current, index]), console) <= width:
            current.append(index)
        elif current and table_minimum(with_columns(table, [0, index]), console) <= width:
            groups.append(current)
            current = [index]
        else:
            return None
    groups.append(current)
    others, size = list(range(1, len(table.columns))), -(-(len(table.columns) - 1) // len(groups))
    even = [others[i:i + size] for i in range(0, len(others), size)]  # as many parts, of even sizes where they fit
    if len(even) == len(groups) and all(table_minimum(with_columns(table, [0, *g]), console) <= width for g in even):
        groups = even
    parts = [with_columns(table, [0, *group]) for group in groups]
    for number, part in enumerate(parts[1:], start=2):
        continued = f"(continued, {number} of {len(parts)})"
        long = f"{table.title} {continued}"
        # the whole title only where the part is as wide: wrapped over a narrow part it would fill many lines
        part.title = long if table.title and len(long) <= table_natural(part, console) else continued
    for part in parts[:-1]:
        part.caption = None
    return parts


def with_columns(table: Table, indices: list[int]) -> Table:
    """A copy of `table` with only the columns at `indices`, in that order."""
    part = copy.copy(table)
    part.columns = [dataclasses.replace(table.columns[i], _index=j, _cells=list(table.columns[i]._cells))
                    for j, i in enumerate(indices)]
    return part


def on_its_side(table: Table) -> Table:
    """The table turned on its side: per row, one line per column with the column's header and the cell."""
    side = Table(Column("", style="bold"), Column(""), title=table.title, caption=table.caption, show_header=False,
                 title_justify=table.title_justify, box=table.box, show_lines=False)
    rows = len(table.rows) or max((len(c._cells) for c in table.columns), default=0)
    for r in range(rows):
        for c, column in enumerate(table.columns):
            cell = column._cells[r] if r < len(column._cells) else ""
            side.add_row(column.header, cell, end_section=c == len(table.columns) - 1)
    return side
