"""Steps shared by the browser tests (imported as `browser_steps`: tests/ is on the path, as for helpers)."""

import contextlib


def script_errors(page) -> list[str]:
    """A list that collects `page`'s uncaught script errors and console errors from now on."""
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


@contextlib.contextmanager
def watched_page(browser, url: str, ready: str, width: int = 1280, height: int = 900):
    """A new page of `browser` at `url` once the JavaScript function `ready` returns true; on leaving, no script
    may have failed and nothing may have been logged as an error."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = script_errors(page)
    page.goto(url, wait_until="load")
    page.wait_for_function(ready)
    yield page
    assert not problems, problems
    page.close()


def draw_vertical_stroke(page, pad, moves: int = 15) -> None:
    """Drag the mouse down the middle of the canvas `pad` (a Playwright locator), from 20% to 80% of its
    height in `moves` moves: a '1'."""
    box = pad.bounding_box()
    middle = box["x"] + box["width"] / 2
    page.mouse.move(middle, box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(middle, box["y"] + (0.2 + 0.6 * k / moves) * box["height"])
    page.mouse.up()
