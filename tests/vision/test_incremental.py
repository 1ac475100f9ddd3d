"""Incremental inference equals the full forward pass on the same occluded images, whatever the
box, the window it is padded to, the pool layout and the kernel size."""

import numpy as np
import pytest
import torch

from nnscope.model import CNNConfig
from nnscope.vision.occlusion.incremental import IncrementalCNN
from nnscope.vision.occlusion.spans import block_spans
from vision.occlusion_models import digit_like_images, random_model


def random_boxes(count: int, largest: int, generator: torch.Generator) -> torch.Tensor:
    """Boxes (count, 4) = (top, bottom, left, right), half-open, of 1..largest pixels, corners included."""
    h = torch.randint(1, largest + 1, (count,), generator=generator)
    w = torch.randint(1, largest + 1, (count,), generator=generator)
    top = (torch.rand(count, generator=generator) * (29 - h)).long()
    left = (torch.rand(count, generator=generator) * (29 - w)).long()
    top[:4] = torch.tensor([0, 0, 28, 28]) - torch.tensor([0, 0, 1, 1]) * h[:4]  # the four corners
    left[:4] = torch.tensor([0, 28, 0, 28]) - torch.tensor([0, 1, 0, 1]) * w[:4]
    return torch.stack([top, top + h, left, left + w], 1)


@pytest.mark.parametrize("config", [
    CNNConfig(channels=(6, 8, 12)),  # the shipped layout: pools after blocks 1 and 2
    CNNConfig(channels=(4, 6, 8, 10), pool_after=(True, False, True, False)),
    CNNConfig(channels=(4, 6, 8), kernel_size=5, pool_after=(False, True, True)),
    CNNConfig(channels=(4, 6, 8), pool_after=(True, True, True)),  # 7 -> 3 drops a row and a column
])
@pytest.mark.parametrize("fill", [0.0, 0.7])
@pytest.mark.parametrize("positive_scales", [False, True])  # True: batch norm folds into the conv
@pytest.mark.parametrize("compiled", [True, False])  # the C loops (where a compiler is) or the torch ones
def test_incremental_equals_full_forward(config, fill, positive_scales, compiled):
    model = random_model(11, config)
    if positive_scales:
        for i in range(1, len(config.channels) + 1):
            getattr(model, f"bn{i}").weight.data.abs_()
    images = digit_like_images(3, seed=5)
    generator = torch.Generator().manual_seed(len(config.channels))
    boxes = random_boxes(60, 9, generator)
    image = torch.randint(0, 3, (60,), generator=generator)
    engine = IncrementalCNN(model, compiled=compiled)
    base = engine.base(images)
    size = (int((boxes[:, 1] - boxes[:, 0]).max()) + 2, int((boxes[:, 3] - boxes[:, 2]).max()))  # padded window
    incremental = engine.logits(base, image, boxes, fill, size)
    occluded = images[image].clone()
    for b, (top, bottom, left, right) in enumerate(boxes.tolist()):
        occluded[b, :, top:bottom, left:right] = fill
    with torch.no_grad():
        full = model(occluded)
    assert (incremental - full).abs().max() < 1e-4  # logits of size ~10: float32 rounding only
    assert (incremental - full).abs().max() < 1e-5 * full.abs().max() * 10


def test_unoccluded_base_equals_model():
    model = random_model(2)
    images = digit_like_images(4, seed=1)
    engine = IncrementalCNN(model)
    with torch.no_grad():
        assert torch.allclose(engine.base(images).logits, model(images), atol=1e-5)


@pytest.mark.parametrize("config", [
    CNNConfig(channels=(6, 8, 12)),
    CNNConfig(channels=(4, 6, 8), kernel_size=5, pool_after=(False, True, True)),  # 7 -> 3 drops a row
])
def test_spans_hold_every_changed_activation_and_no_more(config):
    # oracle: run the model on occluded noise images and find, per block, the box of outputs that differ
    model = random_model(7, config)
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(40, 1, 28, 28, generator=generator) * 0.8 + 0.1  # no pixel equals the fill
    boxes = random_boxes(40, 9, generator).numpy()
    occluded = images.clone()
    for b, (top, bottom, left, right) in enumerate(boxes.tolist()):
        occluded[b, :, top:bottom, left:right] = 0.0
    with torch.no_grad():
        before = model.forward_with_activations(images)[1]
        after = model.forward_with_activations(occluded)[1]
    spans_h = block_spans(boxes[:, 0], boxes[:, 1], 28, config.kernel_size // 2, config.pool_after)
    spans_w = block_spans(boxes[:, 2], boxes[:, 3], 28, config.kernel_size // 2, config.pool_after)
    tight = 0
    for i in range(len(config.channels)):
        changed = ((after[f"relu{i + 1}"] - before[f"relu{i + 1}"]).abs() > 1e-6).any(1)  # (B, H, W)
        for b in range(len(boxes)):
            rows, cols = np.nonzero(changed[b].numpy())
            (lo_h, hi_h, _), (lo_w, hi_w, _) = [(lo[b], hi[b], side) for lo, hi, side in (spans_h[i], spans_w[i])]
            if len(rows):
                assert lo_h <= rows.min() and rows.max() < hi_h and lo_w <= cols.min() and cols.max() < hi_w
                tight += (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (lo_h, hi_h, lo_w, hi_w)
    assert tight >= 0.9 * len(boxes) * len(config.channels)  # spans are no larger than the change
