"""The report built once per session in the quick configuration from the shared 'fast' checkpoint."""

import pytest


@pytest.fixture(scope="session")
def quick_report(trained_checkpoint, tmp_path_factory):
    """(folder, build summary) of `nnscope report --quick --recipe fast` on the session's checkpoint."""
    from nnscope.options.report import ReportOptions
    from nnscope.report.build import build_report

    out = tmp_path_factory.mktemp("report")
    summary = build_report(out, ReportOptions(recipe="fast", quick=True), model=trained_checkpoint)
    return out, summary
