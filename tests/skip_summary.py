"""A pytest plugin (loaded by conftest.py): one line at the end of the run naming every group of skipped tests, why
they were skipped and how to install what they need, so that a fresh machine without Chromium does not pass
with its browser tests silently skipped."""


def skip_group(report) -> str:
    """What a skipped test is, for the summary: 'browser test' for a test marked browser, else 'test'."""
    return "browser test" if "browser" in report.keywords else "test"


def skip_reason(report) -> str:
    """Why a test was skipped, with how to install what it needs where the reason does not say."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if reason.startswith("could not import"):
        reason += " (pip install -e '.[test]')"
    return reason


def pytest_unconfigure(config):
    """The one line of skipped groups, after pytest's own last line ('... passed, ... skipped')."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None:
        return
    groups = {}
    for report in terminalreporter.stats.get("skipped", []):
        key = (skip_group(report), skip_reason(report))
        groups[key] = groups.get(key, 0) + 1
    if groups:
        parts = [f"{count} {group}{'s' if count > 1 else ''} ({reason})"
                 for (group, reason), count in sorted(groups.items(), key=lambda item: -item[1])]
        terminalreporter.write_line("skipped: " + "; ".join(parts), yellow=True, bold=True)
