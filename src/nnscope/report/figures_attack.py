"""The figure of the transplant attack (Problem 2.3): pastes that change the label. Drawing only."""

from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from nnscope.report.plotting import plt, save_figure
from nnscope.report.records import figure
from nnscope.report.tiles import shown_image


def show_picture(ax, image) -> None:
    """An image in [0, 1] drawn as the model sees it: (H, W) in grey, (C, H, W) in colour for RGB."""
    picture, cmap = shown_image(image) if np.ndim(image) == 3 else (image, "gray")
    ax.imshow(picture, cmap=cmap, vmin=0, vmax=1)


def draw_transplants(result: dict, shown: list[dict], donor_images, path: str | Path) -> Path:
    """Rows of successes (at least one): original, donor (donor_images[k] for shown[k]) with the cut outlined,
    result; the images in their layout ((28, 28) MNIST, or any model's (C, H, W)), classes by their names."""
    names = result.get("class_names") or [str(k) for k in range(10)]
    word = "image" if "model" in result else "test"  # any model's data set, or the MNIST test set
    original = f"{word} {result['index']}" if result["index"] is not None else result.get("source", "--image")
    fig, axes = plt.subplots(len(shown), 3, figsize=(7.5, 2.6 * len(shown)), squeeze=False, layout="constrained")
    for row, s, donor in zip(axes, shown, donor_images):
        size = s["patch_size"]
        show_picture(row[0], result["image"])
        row[0].add_patch(Rectangle((s["target_col"] - 0.5, s["target_row"] - 0.5), size, size, fill=False,
                                   ec="red", lw=1.5))
        row[0].set_title(f"{original}: '{names[result['digit']]}'", fontsize=9)
        show_picture(row[1], donor)
        row[1].add_patch(Rectangle((s["source_col"] - 0.5, s["source_row"] - 0.5), size, size, fill=False,
                                   ec="cyan", lw=1.5))
        row[1].set_title(f"donor {word} {s['donor_index']}: '{names[s['donor_digit']]}', {size}x{size} cut", fontsize=9)
        show_picture(row[2], s["adversarial_image"])
        row[2].add_patch(Rectangle((s["target_col"] - 0.5, s["target_row"] - 0.5), size, size, fill=False,
                                   ec="cyan", lw=1.5))
        p = s["probabilities"][s["prediction"]]
        row[2].set_title(f"classified '{names[s['prediction']]}' (p={p:.2f})", fontsize=9, color="red")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("patch transplants: cyan cut from the donor pasted at the red square", fontsize=10)
    return save_figure(fig, path)


def draw_attack_figures(result: dict, shown: list[dict], donor_images, out: Path) -> list[dict]:
    """The figure of one `run_attack` result drawn into `out` (none without a success): records
    {file (relative to out), alt, caption}."""
    if not shown:
        return []
    path = draw_transplants(result, shown, donor_images, out / "transplant_examples.png")
    names = result.get("class_names") or [str(k) for k in range(10)]
    donor = "donor image" if "model" in result else "donor digit"
    return [figure(out, path, f"Pastes that fool the network: the '{names[result['digit']]}', the {donor} with the cut "
                   "outlined, and the result with its new label.",
                   "Patch transplants that change the label, smallest patches first.")]
