"""The report's first section for a model nnscope did not train: its layers, parameters and accuracy on the data."""

from pathlib import Path

from nnscope.labelled_data import LabelledImages
from nnscope.vision.examples import probabilities

NO_DATA = "no --data given: the accuracy against labels was not measured"


def accuracy_on(loaded, data: LabelledImages) -> dict:
    """The share of `data` whose argmax logit is its label, overall and per class."""
    predicted = probabilities(loaded, data.float_images()).argmax(1)
    correct = predicted == data.labels
    per_class = []
    for k, name in enumerate(data.class_names):
        mine = data.labels == k
        per_class.append({"class": k, "name": name, "images": int(mine.sum()), "correct": int(correct[mine].sum()),
                          "accuracy": float(correct[mine].mean()) if mine.any() else None})
    return {"data": data.source, "images": int(len(correct)), "correct": int(correct.sum()),
            "errors": int((~correct).sum()), "accuracy": float(correct.mean()), "per_class": per_class}


def describe_model(loaded, data: LabelledImages | None, options=None, out: Path | None = None, progress=None) -> dict:
    """The model's layers (named_modules() names, type, output shape for one image, own parameters), the
    totals, and the accuracy on `data` against its labels."""
    layers = [{"name": row["name"], "type": row["type"], "output_shape": row["output_shape"],
               "parameters": row["parameters"]} for row in loaded.layers if row["name"]]
    section = {"model": loaded.source, "format": loaded.format, "input_shape": list(loaded.input_shape),
               "fixed_size": loaded.fixed_size, "classes": loaded.classes, "class_names": list(loaded.class_names),
               "conv_layers": list(loaded.conv_layers), "layers": layers,
               "parameters": sum(p.numel() for p in loaded.network.parameters()),
               "trainable_parameters": sum(p.numel() for p in loaded.network.parameters() if p.requires_grad),
               "figures": []}
    if data is None:
        section["accuracy_skipped"] = NO_DATA
    else:
        section["accuracy"] = accuracy_on(loaded, data)
    section["finding"] = model_finding(section)
    return section


def model_finding(s: dict) -> list[str]:
    """The model section in words, built from its measurements."""
    c, h, w = s["input_shape"]
    convs = s["conv_layers"]
    named = f" ({', '.join(convs[:3])}{', ...' if len(convs) > 3 else ''})" if convs else ""
    lines = [f"{s['model']}: {len(s['layers'])} modules, {len(convs)} of them convolutional{named}, "
             f"{s['parameters']:,} parameters; it takes {c} x {h} x {w} images"
             f"{' (this size only)' if s['fixed_size'] else ' (other sizes too)'} and returns {s['classes']} logits."]
    if "accuracy" in s:
        a = s["accuracy"]
        lines.append(f"It labels {a['accuracy']:.2%} of the {a['images']:,} images of {a['data']} correctly "
                     f"({a['errors']:,} mistakes), measured against the data set's labels.")
    else:
        lines.append(s["accuracy_skipped"][0].upper() + s["accuracy_skipped"][1:] + ".")
    return lines
