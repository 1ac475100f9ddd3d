"""Occlusion (Problem 2.1-2.2): slide a patch over a digit and record the ten class probabilities at
every position, exactly and fast.

    analysis.py      occlusion_analysis (drawn by nnscope.analyses.run_occlusion): any model, any labelled data
    maps.py          model_occlusion: the one entry point that chooses the engine (nnscope's CNN, traced,
                     plain passes); the naive reference, occlusion_maps (the three maps), Captum's attribution
    incremental.py   the engine: recomputes only the window of each block that a patch changes
    spans.py         where a patch changes the input, and how far that change travels per block
    c_loops.c/.py    the engine's loops around the convs in C, each behind a checked wrapper
    c_build.py       compiling c_loops.c once per machine (the torch loops where that fails)
    parts.py         the digit's parts (loop, stem, ...) and which of them matter
    aggregate.py     the same over many images of the class
    test_set.py      the maps of a whole data set into one .npz, sharded under torchrun
"""

from nnscope.vision.occlusion.maps import (
    batched_occlusion_probabilities,
    captum_attribution,
    covering_mean,
    naive_occlusion_probabilities,
    occlusion_maps,
    occlusion_probabilities,
)
from nnscope.vision.occlusion.maps import model_occlusion
from nnscope.vision.occlusion.spans import patch_starts

__all__ = ["batched_occlusion_probabilities", "captum_attribution", "covering_mean", "model_occlusion",
           "naive_occlusion_probabilities", "occlusion_maps", "occlusion_probabilities", "patch_starts"]
