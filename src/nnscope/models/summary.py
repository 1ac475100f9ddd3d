"""`run_layers`: every module of a loaded model with its type, output shape for one input and parameters
(`nnscope layers`, and a notebook cell's view of any model)."""

from dataclasses import dataclass, field
from pathlib import Path

from nnscope.models.loaded import LoadedModel
from nnscope.progress import Progress
from nnscope.results import Result


def shape_words(shape, joiner: str = " x ", unknown: str = "-") -> str:
    """An output shape as text: [16, 28, 28] -> '16 x 28 x 28'; several outputs joined by ', '; None -> `unknown`."""
    if shape is None:
        return unknown
    if shape and isinstance(shape[0], list):
        return ", ".join(shape_words(s, joiner, unknown) for s in shape)
    return joiner.join(map(str, shape)) or "scalar"


@dataclass
class LayersResult(Result):
    """The modules of a model as named_modules() lists them, measured on one forward pass."""

    title = "layers"
    model: str  # what was loaded
    format: str  # 'nnscope', 'torchscript', 'export' or 'python'
    input_shape: list[int]  # (C, H, W)
    fixed_size: bool  # True when the model runs on this H x W only
    classes: int
    class_names: list[str]
    conv_layers: list[str]  # the conv layers in forward order, as the analyses number them
    parameters: int  # in the whole model
    shapes_observed: bool  # False for TorchScript, which runs outside Python (no hooks fire)
    layers: list[dict]  # name, type, output_shape (per image), parameters (own), total_parameters, call_order
    finding: list[str] = field(default_factory=list)
    figures: list = field(default_factory=list)  # none are saved; figure() draws the parameters per layer

    def key_numbers(self) -> list[tuple[str, object]]:
        c, h, w = self.input_shape
        return [("model", Path(self.model).name), ("format", self.format),
                ("input", f"{c} x {h} x {w}" + (" (this size only)" if self.fixed_size else "")),
                ("classes", self.classes), ("parameters", f"{self.parameters:,}"),
                ("modules", len(self.layers) - 1), ("conv layers", len(self.conv_layers))]


def describe_model(result: dict) -> list[str]:
    """Sentences measured from the layer table: the size, where the parameters are, the conv layers."""
    c, h, w = result["input_shape"]
    size = "this size only" if result["fixed_size"] else "other sizes too"
    said = [f"{Path(result['model']).name} takes {c} x {h} x {w} inputs ({size}) and gives {result['classes']} "
            f"class scores with {result['parameters']:,} parameters in {len(result['layers']) - 1} modules."]
    holding = sorted((layer for layer in result["layers"] if layer["parameters"]),
                     key=lambda layer: -layer["parameters"])
    if holding and result["parameters"]:
        top = holding[0]
        said.append(f"The largest is {top['name']} ({top['type']}) with {top['parameters']:,} parameters, "
                    f"{top['parameters'] / result['parameters']:.0%} of the model.")
    convs = result["conv_layers"]
    said.append(f"Its {len(convs)} conv layer{'s' if len(convs) != 1 else ''} in forward order: {', '.join(convs)}."
                if convs else "It has no conv layer: the filter and feature-map analyses have nothing to show.")
    if not result["shapes_observed"]:
        said.append("TorchScript runs outside Python: inner output shapes are not observable and the order is "
                    "that of its compiled code.")
    return said


def run_layers(model: LoadedModel, data=None, options=None, out: str | Path | None = None,
               progress: Progress | None = None) -> LayersResult:
    """`nnscope layers`: the layer table of `model` (any model nnscope loads); `data`, `options`, `out` and
    `progress` are unused (the analyses' signature; no figures are saved, `figure()` draws one)."""
    measured = {
        "model": model.source,
        "format": model.format,
        "input_shape": list(model.input_shape),
        "fixed_size": model.fixed_size,
        "classes": model.classes,
        "class_names": list(model.class_names),
        "conv_layers": list(model.conv_layers),
        "parameters": sum(layer["parameters"] for layer in model.layers),
        "shapes_observed": model.format != "torchscript",  # TorchScript runs outside Python: no hooks fire
        "layers": model.layers,
    }
    return LayersResult(**measured, finding=describe_model(measured))
