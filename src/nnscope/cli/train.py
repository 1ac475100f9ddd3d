"""`nnscope train`: train the CNN by a recipe and write its checkpoint."""

from pathlib import Path

from rich.table import Table

from nnscope import distributed
from nnscope.cli.common import add_command, add_data_options, log, progress_bar
from nnscope.data import load_digits
from nnscope.model import check_checkpoint_target
from nnscope.paths import DEFAULT_CHECKPOINT
from nnscope.train import RECIPES, make_recipe, train_and_save


def register(subparsers) -> None:
    recipes = "; ".join(f"{name}: {r.epochs} epochs, channels {'-'.join(map(str, r.model.channels))}"
                        for name, r in RECIPES.items())
    parser = add_command(
        subparsers, "train",
        description=f"Train the CNN on the whole training set held in memory, shuffled every epoch.\n"
        f"Recipes: {recipes}.\nRuns under torchrun too: torchrun --nproc_per_node 2 -m nnscope train",
        run=run, show=show,
    )
    parser.add_argument("--recipe", default="default", choices=list(RECIPES), help="training recipe")
    parser.add_argument("--epochs", type=int, default=None, help="number of epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per step over all processes (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same weights on CPU")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, metavar="PATH",
                        help="where to write the checkpoint (atomically)")
    add_data_options(parser)


def run(args) -> dict:
    check_checkpoint_target("--checkpoint", args.checkpoint)  # now, not after minutes of training
    recipe = make_recipe(args.recipe, args.epochs, args.batch_size)
    digits = load_digits(args.dataset, args.data_dir, progress=log)
    distributed.init()
    if distributed.rank() != 0:
        return train_and_save(digits, recipe, args.checkpoint, seed=args.seed, device=args.device)
    total_steps = recipe.epochs * (len(digits.train_images) // recipe.batch_size)
    with progress_bar(f"training '{recipe.name}'", total=total_steps) as advance:
        def on_step(s: dict) -> None:
            advance(1, info=f"epoch {s['epoch']}/{recipe.epochs} loss {s['loss']:.3f} "
                            f"{s['images_per_second']:,.0f} img/s")

        def on_epoch(e: dict) -> None:
            log(f"epoch {e['epoch']}: loss {e['loss']:.4f}, test accuracy {e['test_accuracy']:.2%}, {e['seconds']:.1f} s")

        return train_and_save(digits, recipe, args.checkpoint, seed=args.seed, device=args.device,
                              on_step=on_step, on_epoch=on_epoch)


def show(result: dict, console) -> None:
    table = Table("", "value", title=f"training summary ({result['recipe']} recipe, seed {result['seed']})")
    table.add_row("train accuracy", f"{result['train_accuracy']:.2%}")
    table.add_row("test accuracy", f"{result['test_accuracy']:.2%}")
    table.add_row("training time", f"{result['seconds']:.1f} s on {result['device']}, "
                  f"{result['processes']} process(es) x {result['threads']} threads")
    table.add_row("parameters", f"{result['parameters']:,}")
    table.add_row("conv layers", str(result["conv_layers"]))
    table.add_row("checkpoint", result["checkpoint"])
    console.print(table)
