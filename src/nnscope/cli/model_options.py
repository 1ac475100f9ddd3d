"""--model and its companions on the command line, shared by every command that takes a model."""

from pathlib import Path

from nnscope.cli.common import Parser
from nnscope.options.model import ModelOptions

DEFAULTS = ModelOptions()


def add_model_options(parser: Parser, image: bool = True) -> None:
    """--model (alias --checkpoint), --weights, --input-shape, --mean, --std, --class-names and, with `image`, --image."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", "--checkpoint", dest="model", default=DEFAULTS.spec, metavar="SPEC",
                       help="an nnscope checkpoint, a TorchScript file (torch.jit.save), a torch.export program "
                       "(.pt2) or FILE.py:NAME, NAME a class or function returning an nn.Module or a module "
                       "instance; FILE.py:NAME IMPORTS AND RUNS THAT FILE'S CODE (your own code), while "
                       "checkpoints, weights, TorchScript and .pt2 files are read without running Python code "
                       "(a .pt2 holding pickled objects is refused)")
    group.add_argument("--weights", type=Path, default=DEFAULTS.weights, metavar="FILE",
                       help="weights for FILE.py:NAME: a state dict saved by torch.save (read with "
                       "weights_only=True) or a .safetensors file (default: the module's own)")
    group.add_argument("--input-shape", type=int, nargs=3, default=DEFAULTS.input_shape, metavar=("C", "H", "W"),
                       help="input size of one image (default: the checkpoint's 1 28 28, a .pt2 program's, "
                       "or --image's)")
    group.add_argument("--mean", type=float, nargs="+", default=DEFAULTS.mean, metavar="M",
                       help="per-channel mean of [0, 1] pixels, subtracted before the model (default: none, "
                       "the model normalises itself)")
    group.add_argument("--std", type=float, nargs="+", default=DEFAULTS.std, metavar="S",
                       help="per-channel standard deviation, divided by after --mean (default: none)")
    group.add_argument("--class-names", type=Path, default=DEFAULTS.class_names, metavar="FILE",
                       help="text file with one class name a line (default: the data set's, else 0, 1, ...)")
    if image:
        group.add_argument("--image", type=Path, default=DEFAULTS.image, metavar="PATH",
                           help="PNG, JPEG, BMP or .npy image (grey or RGB, converted to the model's channels)")


def model_options(args) -> ModelOptions:
    """The ModelOptions of parsed arguments, checked."""
    values = {name: getattr(args, name, getattr(DEFAULTS, name))
              for name in ("weights", "mean", "std", "input_shape", "class_names", "image")}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return ModelOptions(spec=str(args.model), **values).check()
