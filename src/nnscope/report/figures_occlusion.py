"""Figures of the occlusion analysis (Problem 2.1-2.2: the maps, which parts matter, the aggregate): drawing only.

Map cell (r, c) is the patch whose TOP-LEFT corner is at pixel row starts[r], column starts[c];
over the digit, a position is drawn at the patch's centre.
"""

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from nnscope.options.occlusion import SIDE

from nnscope.report.plotting import DIGIT_COLOURS, SEQUENTIAL, plt, save_figure

PART_COLOURS = ListedColormap(["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628"], name="parts")


def _map_axes(ax, starts, title: str) -> None:
    """Ticks in pixel coordinates of the patch's top-left corner."""
    ticks = np.arange(0, len(starts), max(1, len(starts) // 5))
    ax.set_xticks(ticks, [str(starts[t]) for t in ticks])
    ax.set_yticks(ticks, [str(starts[t]) for t in ticks])
    ax.set_xlabel("patch left column (px)")
    ax.set_ylabel("patch top row (px)")
    ax.set_title(title, fontsize=10)


def _centres_extent(starts, patch: int) -> tuple:
    """imshow extent placing map cells at the patch centres in image pixel coordinates."""
    step = starts[1] - starts[0] if len(starts) > 1 else 1
    offset = (patch - 1) / 2
    return (starts[0] + offset - step / 2, starts[-1] + offset + step / 2,
            starts[-1] + offset + step / 2, starts[0] + offset - step / 2)


def _label_legend(ax, labels, digit: int) -> None:
    present = sorted(set(np.unique(labels).tolist()) | {digit})
    handles = [Patch(color=DIGIT_COLOURS(k), label=f"'{k}'") for k in present]
    ax.legend(handles=handles, title="predicted", loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8,
              title_fontsize=8, frameon=False)


def draw_occlusion_maps(result: dict, path: str | Path) -> Path:
    """Digit with the critical positions, then P(true class), max probability and predicted label maps."""
    digit, patch, starts = result["digit"], result["patch"], np.asarray(result["starts"])
    regions = result["regions"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6), gridspec_kw={"wspace": 0.45})
    ax = axes[0]
    ax.imshow(result["image"], cmap="gray", vmin=0, vmax=1)
    extent = _centres_extent(starts, patch)
    overlay = np.zeros(regions["critical"].shape + (4,))
    overlay[regions["critical"]] = (1.0, 0.85, 0.0, 0.45)  # yellow: P(true) < 0.5
    overlay[regions["flipped"]] = (1.0, 0.1, 0.1, 0.65)  # red: label flips
    ax.imshow(overlay, extent=extent, interpolation="nearest")
    r, c = regions["lowest_at"]
    ax.add_patch(Rectangle((starts[c] - 0.5, starts[r] - 0.5), patch, patch, fill=False, ec="cyan", lw=2))
    ax.plot(starts[c], starts[r], "c+", ms=10, mew=2)
    ax.set_title(f"test image {result['index']}: a '{digit}'\ncyan: most damaging {patch}x{patch} patch (+ = its "
                 "top-left)\ncoloured at patch centres: yellow P<0.5, red label flips", fontsize=9)
    ax.set_xlim(-0.5, SIDE - 0.5)
    ax.set_ylim(SIDE - 0.5, -0.5)
    for ax, key, title in ((axes[1], "true_class_probability", f"P('{digit}') with the patch there"),
                           (axes[2], "max_probability", "highest probability of the ten")):
        im = ax.imshow(result[key], cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest")
        _map_axes(ax, starts, title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="probability (0..1)")
    ax = axes[3]
    labels = np.asarray(result["predicted_label"])
    ax.imshow(labels, cmap=DIGIT_COLOURS, vmin=-0.5, vmax=9.5, interpolation="nearest")
    if len(starts) <= 32:  # write the digit in each cell where it fits
        for (i, j), k in np.ndenumerate(labels):
            ax.text(j, i, str(k), ha="center", va="center", fontsize=5.5 if len(starts) > 14 else 8,
                    color="white" if k != digit else "black")
    _map_axes(ax, starts, "predicted label")
    _label_legend(ax, labels, digit)
    fig.suptitle(f"Occlusion of a '{digit}' by a {patch}x{patch} patch of grey {result['fill']:g}, stride "
                 f"{result['stride']}: map cell (r, c) = patch with its top-left corner at pixel (r, c)", fontsize=11)
    return save_figure(fig, path)


def draw_parts(result: dict, path: str | Path) -> Path:
    """The digit's parts, coloured, and per part the mean drop of P(true class) and share of hidden ink."""
    regions, digit = result["regions"], result["digit"]
    names = list(regions["parts"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.4), gridspec_kw={"width_ratios": [1, 1.3], "wspace": 0.55})
    canvas = np.full(result["image"].shape, np.nan)
    for k, name in enumerate(names):
        canvas[regions["part_masks"][name]] = k
    ax.imshow(result["image"], cmap="gray", vmin=0, vmax=1)
    ax.imshow(canvas, cmap=PART_COLOURS, vmin=-0.5, vmax=PART_COLOURS.N - 0.5, alpha=0.8, interpolation="nearest")
    ax.legend(handles=[Patch(color=PART_COLOURS(k), label=n) for k, n in enumerate(names)], loc="upper center",
              bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8, frameon=False)
    ax.set_title(f"parts of the '{digit}' (from the shape of its ink)", fontsize=10)
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
    agg, digit, patch, starts = result["aggregate"], result["digit"], result["patch"], np.asarray(result["starts"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"wspace": 0.4})
    ax = axes[0]
    ax.imshow(agg["mean_image"], cmap="gray", vmin=0, vmax=1)
    offset = (patch - 1) / 2
    if len(starts) > 1:  # a contour needs a map of 2 x 2 positions at least
        ax.contour(starts + offset, starts + offset, agg["mean_true_class_probability"], levels=[0.5, 0.8],
                   colors=["red", "orange"], linewidths=1.5)
        ax.set_title(f"mean of {agg['images']} test '{digit}'s\ncontours at patch centres: mean P('{digit}') "
                     "0.5 (red), 0.8 (orange)", fontsize=9)
    else:
        ax.set_title(f"mean of {agg['images']} test '{digit}'s\n(one patch position: no contours)", fontsize=9)
    ax.set_xlim(-0.5, SIDE - 0.5)
    ax.set_ylim(SIDE - 0.5, -0.5)
    for ax, key, title, label in (
            (axes[1], "mean_true_class_probability", f"mean P('{digit}') with the patch there", "probability"),
            (axes[2], "flipped_fraction", "share of images whose label flips", "share of images")):
        im = ax.imshow(agg[key], cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest")
        _map_axes(ax, starts, title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=f"{label} (0..1)")
    fig.suptitle(f"{patch}x{patch} patch over {agg['images']} correctly classified test '{digit}'s: "
                 "map cell (r, c) = patch top-left at pixel (r, c)", fontsize=11)
    return save_figure(fig, path)


def draw_occlusion_figures(result: dict, out: Path) -> list[dict]:
    """The figures of one `run_occlusion` result (with its `regions` masks) drawn into `out`: records
    {file (relative to out), alt, caption}."""
    d, p = result["digit"], result["patch"]
    records = [
        {"file": draw_occlusion_maps(result, out / "occlusion_maps.png").name,
         "alt": f"The '{d}' and three maps over the {p}x{p} patch positions: probability of '{d}', highest "
                "probability (both on a 0 to 1 scale) and predicted label (ten colours).",
         "caption": f"Occlusion maps of test image {result['index']}: each cell is one position of the patch."},
        {"file": draw_parts(result, out / "occlusion_parts.png").name,
         "alt": f"The parts of the '{d}' and the region where hiding them drops P('{d}') below one half.",
         "caption": "Which parts matter: the critical region drawn over the digit."},
    ]
    if "aggregate" in result:
        records.append({"file": draw_aggregate(result, out / "occlusion_aggregate.png").name,
                        "alt": f"Mean maps over {result['aggregate']['images']} correctly classified test '{d}'s.",
                        "caption": "The same measured over many images: which regions matter on average."})
    return records
