"""The report printed on A4 (a student hands it in as a PDF): every table and figure within the page's width,
each section from a new page, the widgets printed as they stand."""

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MM = 96 / 25.4  # CSS pixels per millimetre
A4_TEXT_WIDTH = round((210 - 2 * 12) * MM)  # px: A4's 210 mm less report.css's @page margins of 12 mm a side
WIDE = "table, img, canvas, svg, figure, pre, .widget, .answer, .cols, .bars"


def printed_page(browser, report_folder: Path):
    """The report from the file system with print media emulated, as wide as A4's printed text."""
    page = browser.new_page(viewport={"width": A4_TEXT_WIDTH, "height": 1100})
    page.goto((report_folder / "index.html").as_uri(), wait_until="load")
    page.emulate_media(media="print")
    return page


def too_wide(page) -> list[str]:
    """Every element of WIDE whose right edge lies past the printed text's width, and every box whose content
    is wider than the box (paper does not scroll: what overflows is cut)."""
    return page.evaluate(
        """([selector, limit]) => {
               const name = e => ((e.closest('section') || {}).id || 'page') + ': ' + e.tagName.toLowerCase() +
                   (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className : '');
               const past = Array.from(document.querySelectorAll(selector)).flatMap(e => {
                   const r = e.getBoundingClientRect();
                   return r.width > 0 && r.right > limit + 1 ? [`${name(e)} ends at ${Math.round(r.right)} px`] : [];
               });
               const clipped = Array.from(document.querySelectorAll('main *')).flatMap(e => {
                   const o = getComputedStyle(e).overflowX;
                   return o !== 'visible' && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 ?
                       [`${name(e)} holds ${e.scrollWidth} px in ${e.clientWidth} px`] : [];
               });
               return past.concat(clipped);
           }""", [WIDE, A4_TEXT_WIDTH])


def test_every_table_and_figure_fits_an_a4_page_and_sections_start_a_page(quick_report, browser):
    out, _ = quick_report
    page = printed_page(browser, out)
    assert too_wide(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= A4_TEXT_WIDTH + 1
    # Problem 5's per-step tables keep every column, none scrolled out of sight
    headers = page.locator("#problem5 table thead th").all_inner_texts()
    assert {"s(t)", "h(t)", "cell input", "Σ from 3 down to t"} <= {h.strip() for h in headers}
    breaks = page.evaluate("Array.from(document.querySelectorAll('main > section')).map(s => "
                           "[s.id, getComputedStyle(s).breakBefore])")
    assert [b for _, b in breaks[1:]] == ["page"] * (len(breaks) - 1), breaks
    assert page.locator("nav").is_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    pdf = page.pdf(path=str(ARTIFACTS / "report-a4.pdf"), format="A4", print_background=False)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert boxes and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes)  # A4 in pt
    assert len(boxes) >= len(breaks)  # a page at least for every section


def test_widgets_print_as_they_stand(quick_report, browser):
    out, _ = quick_report
    page = printed_page(browser, out)
    handle = page.locator("#shift-range")
    handle.focus()
    page.keyboard.press("End")  # the last shift: the page printed now shows it
    readout = page.locator("#shift-readout").inner_text()
    assert page.locator("#shift-widget").is_visible() and page.locator("#shift-readout").is_visible()
    assert handle.input_value() == handle.get_attribute("max")
    assert readout.strip() and "predicted" in readout
    colours = page.evaluate("Array.from(document.querySelectorAll('.widget canvas')).map(c => "
                            "getComputedStyle(c).printColorAdjust)")
    assert colours and set(colours) == {"exact"}  # canvases and bars print in colour, not blanked as backgrounds
