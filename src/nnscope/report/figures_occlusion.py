"""Figures of the occlusion analysis (Problem 2.1-2.2: the maps, which parts matter, the aggregate): drawing only.

Map cell (r, c) is the patch whose TOP-LEFT corner is at pixel row starts[r], column starts[c];
over the digit, a position is drawn at the patch's centre.
"""

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.plotting import DIGIT_COLOURS, SEQUENTIAL, plt, save_figure
from nnscope.report.records import figure
from nnscope.vision.occlusion.analysis import OcclusionResult

# one distinct colour per part: the six digit parts and the nine cells of the 3 x 3 grid alike
PART_COLOURS = ListedColormap(["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
                               "#17becf", "#bcbd22", "#7f7f7f"], name="parts")


def _geometry(result) -> tuple:
    """(row starts, column starts, patch height, patch width, the class's name, names of all classes) of an
    occlusion result."""
    rows = np.asarray(result["row_starts"])
    cols = np.asarray(result["col_starts"])
    patch = result["patch"]
    ph, pw = (patch, patch) if isinstance(patch, int) else (patch[0], patch[-1])
    names = result.get("class_names") or [str(k) for k in range(10)]
    return rows, cols, ph, pw, names[result["digit"]], names


def _shown(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """An image (H, W) or (C, H, W) in [0, 1] as imshow takes it: RGB in colour, one channel (or any
    other count, averaged) in grey."""
    if image.ndim == 3 and image.shape[0] == 3:
        return np.clip(image.transpose(1, 2, 0), 0, 1), {}
    if image.ndim == 3:
        image = image.mean(0)
    return image, {"cmap": "gray", "vmin": 0, "vmax": 1}


def _label_colours(classes: int):
    """One colour per class: the ten digit colours for up to ten classes, else a resampled colour map."""
    return DIGIT_COLOURS if classes <= 10 else plt.get_cmap("turbo").resampled(classes)


def _map_axes(ax, starts, title: str, cols=None) -> None:
    """Ticks in pixel coordinates of the patch's top-left corner."""
    cols = starts if cols is None else cols
    ticks = np.arange(0, len(starts), max(1, len(starts) // 5))
    col_ticks = np.arange(0, len(cols), max(1, len(cols) // 5))
    ax.set_xticks(col_ticks, [str(cols[t]) for t in col_ticks])
    ax.set_yticks(ticks, [str(starts[t]) for t in ticks])
    ax.set_xlabel("patch left column (px)")
    ax.set_ylabel("patch top row (px)")
    ax.set_title(title, fontsize=10)


def _centres_extent(starts, patch: int, cols=None, patch_width: int | None = None) -> tuple:
    """imshow extent placing map cells at the patch centres in image pixel coordinates."""
    cols = starts if cols is None else cols
    patch_width = patch if patch_width is None else patch_width
    step = starts[1] - starts[0] if len(starts) > 1 else 1
    col_step = cols[1] - cols[0] if len(cols) > 1 else 1
    offset, col_offset = (patch - 1) / 2, (patch_width - 1) / 2
    return (cols[0] + col_offset - col_step / 2, cols[-1] + col_offset + col_step / 2,
            starts[-1] + offset + step / 2, starts[0] + offset - step / 2)


def _label_legend(ax, labels, digit: int, names=None) -> None:
    names = names or [str(k) for k in range(10)]
    colours = _label_colours(len(names))
    present = sorted(set(np.unique(labels).tolist()) | {digit})
    handles = [Patch(color=colours(k), label=f"'{names[k]}'") for k in present]
    ax.legend(handles=handles, title="predicted", loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8,
              title_fontsize=8, frameon=False)


def image_words(result) -> str:
    """The occluded image and what it is, as titles say it: its label when known, else what the model
    predicts (a --target is the class of map 1, not what the image is)."""
    names, unoccluded = result["class_names"], np.asarray(result["unoccluded_probabilities"])
    if result["label"] is not None:
        return f"{result['source']}: a '{names[result['label']]}'"
    return f"{result['source']}: classified '{names[int(unoccluded.argmax())]}'"


def draw_occlusion_maps(result: dict, path: str | Path) -> Path:
    """The image with the critical positions, then P(target), max probability and predicted label maps."""
    return save_figure(occlusion_maps_figure(result), path)


def occlusion_maps_figure(result: dict):
    """The figure of draw_occlusion_maps."""
    digit, regions = result["digit"], result["regions"]
    starts, cols, patch, width, name, names = _geometry(result)
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6), gridspec_kw={"wspace": 0.45})
    ax = axes[0]
    shown, style = _shown(result["image"])
    ax.imshow(shown, **style)
    extent = _centres_extent(starts, patch, cols, width)
    overlay = np.zeros(regions["critical"].shape + (4,))
    overlay[regions["critical"]] = (1.0, 0.85, 0.0, 0.45)  # yellow: P(true) < 0.5
    overlay[regions["flipped"]] = (1.0, 0.1, 0.1, 0.65)  # red: label flips
    ax.imshow(overlay, extent=extent, interpolation="nearest")
    r, c = regions["lowest_at"]
    ax.add_patch(Rectangle((cols[c] - 0.5, starts[r] - 0.5), width, patch, fill=False, ec="cyan", lw=2))
    ax.plot(cols[c], starts[r], "c+", ms=10, mew=2)
    ax.set_title(f"{image_words(result)}\ncyan: most damaging {patch}x{width} patch (+ = its "
                 "top-left)\ncoloured at patch centres: yellow P<0.5, red label flips", fontsize=9, wrap=True)
    ax.set_xlim(-0.5, shown.shape[1] - 0.5)
    ax.set_ylim(shown.shape[0] - 0.5, -0.5)
    many = "ten" if len(names) == 10 else str(len(names))
    for ax, key, title in ((axes[1], "true_class_probability", f"P('{name}') with the patch there"),
                           (axes[2], "max_probability", f"highest probability of the {many}")):
        im = ax.imshow(result[key], cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest")
        _map_axes(ax, starts, title, cols)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="probability (0..1)")
    ax = axes[3]
    labels = np.asarray(result["predicted_label"])
    ax.imshow(labels, cmap=_label_colours(len(names)), vmin=-0.5, vmax=max(len(names), 10) - 0.5,
              interpolation="nearest")
    if max(len(starts), len(cols)) <= 32:  # write the label in each cell where it fits
        for (i, j), k in np.ndenumerate(labels):
            ax.text(j, i, str(k), ha="center", va="center", fontsize=5.5 if max(len(starts), len(cols)) > 14 else 8,
                    color="white" if k != digit else "black")
    _map_axes(ax, starts, "predicted label", cols)
    _label_legend(ax, labels, digit, names)
    fill = result["fill"]
    fill = f"{fill:g}" if isinstance(fill, (int, float)) else "(" + ", ".join(f"{v:g}" for v in fill) + ")"
    stride = result["stride"] if isinstance(result["stride"], int) else " x ".join(map(str, result["stride"]))
    fig.suptitle(f"{drill_down_words(result)}Occlusion maps of P('{name}') under a {patch}x{width} patch of value "
                 f"{fill}, stride {stride}: map cell (r, c) = patch with its top-left corner at pixel (r, c)",
                 fontsize=11)
    return fig


def drill_down_words(result: dict) -> str:
    """'drill-down (approximate, ...): ' before the titles of a map --drill-down computed in part; else ''."""
    drill = result.get("drill_down")
    if not drill or not drill["approximate"]:
        return ""
    return (f"drill-down (approximate, R = {drill['share']:g}: {drill['computed_positions']} of {drill['positions']} "
            "positions exact, the rest interpolated): ")


def draw_parts(result: dict, path: str | Path) -> Path:
    """The digit's parts, coloured, and per part the mean drop of P(true class) and share of hidden ink."""
    regions = result["regions"]
    digit = _geometry(result)[4]
    names = list(regions["parts"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.4), gridspec_kw={"width_ratios": [1, 1.3], "wspace": 0.55})
    canvas = np.full(result["image"].shape[-2:], np.nan)
    for k, name in enumerate(names):
        canvas[regions["part_masks"][name]] = k
    shown, style = _shown(result["image"])
    ax.imshow(shown, **style)
    ax.imshow(canvas, cmap=PART_COLOURS, vmin=-0.5, vmax=PART_COLOURS.N - 0.5, alpha=0.8, interpolation="nearest")
    ax.legend(handles=[Patch(color=PART_COLOURS(k), label=n) for k, n in enumerate(names)], loc="upper center",
              bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8, frameon=False)
    split = regions.get("split", "digit parts")
    how = "from the shape of its ink" if split == "digit parts" else f"a {split.removeprefix('grid ')} grid"
    ax.set_title(f"parts of the '{digit}' image ({how})" if split != "digit parts"
                 else f"parts of the '{digit}' ({how})", fontsize=10)
    ax.axis("off")
    y = np.arange(len(names))
    drops = [regions["parts"][n]["mean_drop"] for n in names]
    shares = [regions["parts"][n]["hidden_share"] for n in names]
    bx.barh(y - 0.2, drops, 0.4, color=[PART_COLOURS(k) for k in range(len(names))], label="mean drop per pixel (colour of the part)")
    bx.barh(y + 0.2, shares, 0.4, color="lightgrey", edgecolor="black", label="share of ink hidden by critical patches")
    for k in range(len(names)):
        bx.text(drops[k], y[k] - 0.2, f" {drops[k]:.3f}", va="center", fontsize=8)
        bx.text(shares[k], y[k] + 0.2, f" {shares[k]:.0%}", va="center", fontsize=8)
    bx.set_yticks(y, names)
    bx.set_xlim(0, 1.15)
    bx.set_xlabel(f"drop of P('{digit}') when its pixels are hidden (0..1) / share of hidden ink")
    bx.legend(fontsize=8, loc="lower right")
    bx.set_title("which parts matter", fontsize=10)
    return save_figure(fig, path)


def draw_aggregate(result: dict, path: str | Path) -> Path:
    """Over many images of the digit: mean image, mean P(true class) map, share of images flipped."""
    agg = result["aggregate"]
    starts, cols, patch, width, digit, _ = _geometry(result)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"wspace": 0.4})
    ax = axes[0]
    shown, style = _shown(agg["mean_image"])
    ax.imshow(shown, **style)
    offset, col_offset = (patch - 1) / 2, (width - 1) / 2
    if len(starts) > 1 and len(cols) > 1:  # a contour needs a map of 2 x 2 positions at least
        ax.contour(cols + col_offset, starts + offset, agg["mean_true_class_probability"], levels=[0.5, 0.8],
                   colors=["red", "orange"], linewidths=1.5)
        ax.set_title(f"mean of {agg['images']} '{digit}' images\ncontours at patch centres: mean P('{digit}') "
                     "0.5 (red), 0.8 (orange)", fontsize=9)
    else:
        ax.set_title(f"mean of {agg['images']} '{digit}' images\n(one patch position: no contours)", fontsize=9)
    ax.set_xlim(-0.5, shown.shape[1] - 0.5)
    ax.set_ylim(shown.shape[0] - 0.5, -0.5)
    for ax, key, title, label in (
            (axes[1], "mean_true_class_probability", f"mean P('{digit}') with the patch there", "probability"),
            (axes[2], "flipped_fraction", "share of images whose label flips", "share of images")):
        im = ax.imshow(agg[key], cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest")
        _map_axes(ax, starts, title, cols)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=f"{label} (0..1)")
    fig.suptitle(f"{patch}x{width} patch over {agg['images']} correctly classified '{digit}' images: "
                 "map cell (r, c) = patch top-left at pixel (r, c)", fontsize=11)
    return save_figure(fig, path)


def with_masks(result) -> dict:
    """An occlusion result as the drawings read it: its JSON keys and the per-pixel masks of its regions."""
    return {**result.as_dict(), "regions": result.regions}


@drawing_of.register
def _(result: OcclusionResult):
    return occlusion_maps_figure(with_masks(result))


@saved_figures.register
def _(result: OcclusionResult, out: Path) -> list[dict]:
    result = with_masks(result)
    starts, cols, height, width, d, _ = _geometry(result)
    p = f"{height}x{width}"
    what = result["source"]
    records = [
        figure(out, draw_occlusion_maps(result, out / "occlusion_maps.png"),
               f"The '{d}' and three maps over the {p} patch positions: probability of '{d}', highest probability "
               "(both on a 0 to 1 scale) and predicted label (ten colours).",
               f"{drill_down_words(result)}Occlusion maps of {what}: each cell is one position of the patch."),
        figure(out, draw_parts(result, out / "occlusion_parts.png"),
               f"The parts of the '{d}' and the region where hiding them drops P('{d}') below one half.",
               f"{drill_down_words(result)}Which parts matter: the critical region drawn over the "
               + ("digit." if result["regions"].get("split", "digit parts") == "digit parts" else "image's grid cells.")),
    ]
    if result.get("aggregate") is not None:
        records.append(figure(out, draw_aggregate(result, out / "occlusion_aggregate.png"),
                              f"Mean maps over {result['aggregate']['images']} correctly classified '{d}' images.",
                              "The same measured over many images: which regions matter on average."))
    return records
