"""The figure of the transplant attack (Problem 2.3): pastes that change the label. Drawing only."""

from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from nnscope.report.drawing import drawing_of, saved_figures
from nnscope.report.figures_occlusion import _shown
from nnscope.report.plotting import plt, save_figure
from nnscope.report.records import figure
from nnscope.vision.attack import AttackResult
from nnscope.report.tiles import shown_image


def show_picture(ax, image) -> None:
    """An image in [0, 1] drawn as the model sees it: (H, W) in grey, (C, H, W) in colour for RGB."""
    picture, style = _shown(np.asarray(image))
    ax.imshow(picture, **style)


@drawing_of.register
def _(result: AttackResult):
    shown = result.examples_drawn()
    return transplants_figure(result, shown, result.donor_images) if shown else None


def draw_transplants(result, shown: list[dict], donor_images, path: str | Path) -> Path:
    """Rows of successes (at least one): original, donor (donor_images[k] for shown[k]) with the cut outlined,
    result; the images in their layout ((H, W) grey or (C, H, W)), classes by their names."""
    return save_figure(transplants_figure(result, shown, donor_images), path)


def transplants_figure(result, shown: list[dict], donor_images):
    """The figure of draw_transplants."""
    names, word = result["class_names"], "image"
    original = result["source"]
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
    return fig


@saved_figures.register
def _(result: AttackResult, out: Path) -> list[dict]:  # none without a success
    shown = result.examples_drawn()
    if not shown:
        return []
    path = draw_transplants(result, shown, result.donor_images, out / "transplant_examples.png")
    names = result["class_names"]
    donor = "donor image"
    return [figure(out, path, f"Pastes that fool the network: the '{names[result['digit']]}', the {donor} with the cut "
                   "outlined, and the result with its new label.",
                   "Patch transplants that change the label, smallest patches first.")]
