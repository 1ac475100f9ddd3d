"""nnscope: see inside small neural networks and check every number by hand.

The public names below are imported on first use (PEP 562), so that `import nnscope` and the
command line's help do not pay for torch until a name that needs it is touched.
"""

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "CNN": "nnscope.model",
    "CNNConfig": "nnscope.model",
    "Digits": "nnscope.data",
    "LabelledImages": "nnscope.labelled_data",
    "LoadedModel": "nnscope.models",
    "NnscopeError": "nnscope.errors",
    "Occlusion": "nnscope.vision.occlusion.captum_api",  # Captum's Occlusion API on the incremental engine
    "RECIPES": "nnscope.train",
    "labelled_test_set": "nnscope.labelled_data",  # the MNIST / Fashion-MNIST test set as LabelledImages
    "load_digits": "nnscope.data",
    "load_labelled_data": "nnscope.labelled_data",
    "load_mnist": "nnscope.data",
    "load_model": "nnscope.models",  # any model (nnscope checkpoint, TorchScript, .pt2, FILE.py:NAME) as a LoadedModel
    "run_attack": "nnscope.analyses",
    "run_featuremaps": "nnscope.analyses",
    "run_filters": "nnscope.analyses",
    "run_layers": "nnscope.models.summary",
    "run_longseq": "nnscope.recurrent.longseq_study",
    "run_lstm": "nnscope.recurrent.lstm",
    "run_occlusion": "nnscope.analyses",
    "run_rnn": "nnscope.recurrent.rnn",
    "run_shift": "nnscope.analyses",
    "make_recipe": "nnscope.train",
    "train": "nnscope.train",
    "train_and_save": "nnscope.train",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nnscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
