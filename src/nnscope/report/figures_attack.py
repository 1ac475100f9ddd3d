"""The figure of the transplant attack (Problem 2.3): pastes that change the label. Drawing only."""

from pathlib import Path

from matplotlib.patches import Rectangle

from nnscope.report.plotting import plt, save_figure
from nnscope.report.records import figure


def draw_transplants(result: dict, shown: list[dict], donor_images, path: str | Path) -> Path:
    """Rows of successes (at least one): original, donor (donor_images[k] for shown[k]) with the cut outlined, result."""
    fig, axes = plt.subplots(len(shown), 3, figsize=(7.5, 2.6 * len(shown)), squeeze=False, layout="constrained")
    for row, s, donor in zip(axes, shown, donor_images):
        size = s["patch_size"]
        row[0].imshow(result["image"], cmap="gray", vmin=0, vmax=1)
        row[0].add_patch(Rectangle((s["target_col"] - 0.5, s["target_row"] - 0.5), size, size, fill=False,
                                   ec="red", lw=1.5))
        row[0].set_title(f"test {result['index']}: '{result['digit']}'", fontsize=9)
        row[1].imshow(donor, cmap="gray", vmin=0, vmax=1)
        row[1].add_patch(Rectangle((s["source_col"] - 0.5, s["source_row"] - 0.5), size, size, fill=False,
                                   ec="cyan", lw=1.5))
        row[1].set_title(f"donor test {s['donor_index']}: '{s['donor_digit']}', {size}x{size} cut", fontsize=9)
        row[2].imshow(s["adversarial_image"], cmap="gray", vmin=0, vmax=1)
        row[2].add_patch(Rectangle((s["target_col"] - 0.5, s["target_row"] - 0.5), size, size, fill=False,
                                   ec="cyan", lw=1.5))
        p = s["probabilities"][s["prediction"]]
        row[2].set_title(f"classified '{s['prediction']}' (p={p:.2f})", fontsize=9, color="red")
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
    return [figure(out, path, f"Pastes that fool the network: the '{result['digit']}', the donor digit with the cut "
                   "outlined, and the result with its new label.",
                   "Patch transplants that change the label, smallest patches first.")]
