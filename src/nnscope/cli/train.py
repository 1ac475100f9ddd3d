"""`nnscope train`: train the CNN by a recipe and write its checkpoint."""

from pathlib import Path

from rich.table import Table

from nnscope.cli.common import add_command, add_data_options, log, options_from_args, progress_display
from nnscope.cli.tables import print_table
from nnscope.options.train import DEVICES, RECIPE_NAMES, TrainOptions


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "train",
        description="Train the CNN on the whole training set held in memory, shuffled every epoch.\n"
        "Recipes (docs/data-and-training.md): fast 10-20-40 channels, 1 epoch; default 16-32-64, 3 epochs; "
        "best 32-64-128, 8 epochs with shifts.\n"
        "Runs under torchrun too: torchrun --nproc_per_node 2 -m nnscope train",
        run=run, show=show,
    )
    parser.add_argument("--recipe", default=TrainOptions.recipe, choices=RECIPE_NAMES, help="training recipe")
    parser.add_argument("--epochs", type=int, default=TrainOptions.epochs,
                        help="passes over the training set (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=TrainOptions.batch_size,
                        help="images per step over all processes (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=TrainOptions.seed,
                        help="random seed, 0 to 2^64-1: same seed, same weights on CPU")
    parser.add_argument("--device", default=TrainOptions.device, choices=DEVICES,
                        help="where to train: auto takes the GPU when there is one")
    parser.add_argument("--checkpoint", type=Path, default=TrainOptions.checkpoint, metavar="PATH",
                        help="where to write the checkpoint (atomically; never over a file that is not one)")
    add_data_options(parser)


def run(args) -> dict:
    options = options_from_args(TrainOptions, args)
    options.check()
    # torch: only once the options are valid (start-up)
    from nnscope import distributed
    from nnscope.data import load_digits
    from nnscope.model import check_checkpoint_target
    from nnscope.train import run_train

    check_checkpoint_target("--checkpoint", options.checkpoint)  # now, not after minutes of training
    digits = load_digits(args.dataset, args.data_dir, log=log)
    distributed.init()
    if distributed.rank() != 0:
        return run_train(None, digits, options)
    with progress_display(f"training '{options.recipe}'") as progress:
        result = run_train(None, digits, options, progress=progress)
    for epoch in result["history"]:
        log(f"epoch {epoch['epoch']}: loss {epoch['loss']:.4f}, test accuracy {epoch['test_accuracy']:.2%}, "
            f"{epoch['seconds']:.1f} s")
    return result


def show(result: dict, console) -> None:
    table = Table("", "value", title=f"training summary ({result['recipe']} recipe, seed {result['seed']})")
    table.add_row("train accuracy", f"{result['train_accuracy']:.2%}")
    table.add_row("test accuracy", f"{result['test_accuracy']:.2%}")
    table.add_row("training time", f"{result['seconds']:.1f} s on {result['device']}, "
                  f"{result['processes']} process(es) x {result['threads']} threads")
    table.add_row("parameters", f"{result['parameters']:,}")
    table.add_row("conv layers", str(result["conv_layers"]))
    table.add_row("checkpoint", result["checkpoint"])
    print_table(console, table)
