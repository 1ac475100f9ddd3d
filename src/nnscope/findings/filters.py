"""Sentences about the filters, built from the statistics `run_filters` measured."""


def describe_filters(result: dict) -> list[str]:
    """One sentence per layer: its shape, range of values, share positive and filter norms."""
    lines = []
    for name, s in result["layers"].items():
        out_channels, in_channels, k, _ = s["shape"]
        norms = s["filter_norms"]
        lines.append(
            f"{name}: {out_channels} filters of {in_channels} x {k} x {k} weights; values from {s['min']:.3f} "
            f"to {s['max']:.3f} (mean {s['mean']:+.3f}, {s['share_positive']:.0%} positive); filter norms "
            f"{min(norms):.3f}-{max(norms):.3f}, strongest filter {s['strongest_filter']}."
        )
    return lines
