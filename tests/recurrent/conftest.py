"""A tiny long-sequence study run once per session, shared by the tests of its result and figures."""

import pytest

from nnscope.options.longseq import LongSeqOptions

# seconds, not minutes: two short lengths, two distances, few and small models
TINY = LongSeqOptions(lengths=(60, 120), distances=(0, 20), train_length=30, spectral_radii=(0.5, 2.0),
                      forget_biases=(0.0, 1.0), far=10, hidden=8, updates=3, seeds=2, train_count=32, test_count=16,
                      esn_size=20)


@pytest.fixture(scope="session")
def tiny_longseq(tmp_path_factory):
    """(folder, result) of `run_longseq` on TINY with its figures drawn into the folder."""
    from nnscope.report.figures_longseq import run_longseq_figures
    from nnscope.threads import one_thread

    out = tmp_path_factory.mktemp("longseq")
    with one_thread():
        return out, run_longseq_figures(None, None, TINY, out=out)
