"""The report's cache covers its figures, and --out is replaced only when it holds an earlier report."""

import json

import pytest

from nnscope.errors import NnscopeError
from nnscope.report.build import check_report_folder, file_hash, reusable, with_figure_hashes


def test_a_stage_is_reused_only_while_its_figures_are_as_drawn(tmp_path):
    (tmp_path / "shift.png").write_bytes(b"the figure of this run")
    section = with_figure_hashes({"key": "k1", "figures": [{"file": "shift.png", "alt": "a"}]}, tmp_path)
    assert section["figures"][0]["sha256"] == file_hash(tmp_path / "shift.png")
    assert reusable(section, "k1", tmp_path) and not reusable(section, "k2", tmp_path)
    (tmp_path / "shift.png").write_bytes(b"a figure another command drew here")
    assert not reusable(section, "k1", tmp_path)  # the page would show other numbers than its text
    assert not reusable({"key": "k1", "figures": [{"file": "shift.png"}]}, "k1", tmp_path)  # no hash stored


def test_out_must_be_new_empty_or_an_earlier_report(tmp_path):
    check_report_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_report_folder(tmp_path / "empty")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps({"sections": {}}))
    check_report_folder(tmp_path / "old")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(NnscopeError, match=r"--out: .*photos holds files and no nnscope report"):
        check_report_folder(tmp_path / "photos")
