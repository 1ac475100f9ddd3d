"""What each notebook widget shows, as plain JSON, read from an analysis result (a typed result or the
dict of the command's JSON): the same data the report's widgets read from its results.json."""

import numpy as np

from nnscope.errors import NnscopeError


def as_list(value):
    """Numpy arrays and numbers as plain lists and floats (the widget's state is JSON)."""
    return np.asarray(value).tolist()


def class_names(result, count: int) -> list[str]:
    """The result's class names, or the indices as names where it has none."""
    names = result.get("class_names") or result.get("classes")
    return [str(name) for name in names] if names else [str(k) for k in range(count)]


def needs(result, keys: tuple[str, ...], what: str, hint: str) -> None:
    """Refuse a result without `keys` in one line naming what was expected."""
    missing = [key for key in keys if key not in result]
    if missing:
        raise NnscopeError(f"result: expected {what} (it has no {', '.join(repr(k) for k in missing)}); {hint}")


def unit_image(image) -> list:
    """An image as values in [0, 1]: bytes (0-255 integers) are divided by 255."""
    array = np.asarray(image)
    return as_list(array / 255.0 if array.dtype.kind in "ui" else array.astype(float))


def explorer_data(result) -> dict:
    """The occlusion explorer's data of an occlusion result (run_occlusion, `nnscope occlude --json`)."""
    needs(result, ("image", "probabilities", "patch"), "an occlusion result", "run it with nnscope's run_occlusion")
    probabilities = np.asarray(result["probabilities"], float)
    if probabilities.ndim != 3:
        raise NnscopeError("result: expected the occlusion probabilities of one image (rows x columns x classes), "
                           "not a test-set run")
    row_starts = as_list(result.get("row_starts", result.get("starts")))
    target = result.get("target", result.get("digit", result.get("class")))
    return {"input": unit_image(result["image"]), "patch": as_list(result["patch"]), "stride": as_list(result["stride"]),
            "fill": as_list(result["fill"]), "row_starts": row_starts,
            "col_starts": as_list(result.get("col_starts", row_starts)), "probabilities": as_list(probabilities),
            "class": int(target), "classes": class_names(result, probabilities.shape[-1])}


def slider_data(result) -> dict:
    """The shift slider's data of a shift result run with a slider (ShiftOptions(slider=6))."""
    needs(result, ("slider",), "a shift result with its slider views", "run run_shift with ShiftOptions(slider=6)")
    slider = result["slider"]
    probabilities = as_list(slider["probabilities"])
    return {"shifts": as_list(slider["shifts"]), "images": [unit_image(image) for image in slider["images"]],
            "probabilities": probabilities, "predictions": as_list(slider["predictions"]),
            "classes": class_names(result, len(probabilities[0]))}


def browser_data(result) -> dict:
    """The feature-map browser's data of a feature-maps result (run_featuremaps): the two examples' maps
    and the channel ranking."""
    needs(result, ("examples", "channel_ranking", "pair"), "a feature-maps result", "run it with run_featuremaps")
    ranking = [{key: row[key] for key in ("channel", "effect_size", "higher_for", "where")}
               for row in result["channel_ranking"]]
    return {"pair": [str(name) for name in result["pair"]], "layer": result.get("layer"),
            "maps": [as_list(example["feature_maps"]) for example in result["examples"][:2]],
            "ranking": ranking}


def graph_data(result) -> dict:
    """The unrolled graph of a run_rnn or run_lstm result: its network and parameters, as the report embeds it."""
    needs(result, ("graph",), "an RNN or LSTM result (Problem 3 or 5)", "run it with run_rnn or run_lstm")
    return result["graph"]
