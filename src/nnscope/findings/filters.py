"""Sentences about the filters of a model's conv layers, from the statistics `measure_filters` measured."""


def describe_filters(result: dict) -> list[str]:
    """One sentence per layer: its shape and grouping, its range of values, its norms and what the figure shows."""
    lines = []
    for name, s in result["layers"].items():
        out_channels, per_group, kh, kw = s["shape"]
        grouping = f" in {s['groups']} groups" if (s["groups"] or 1) > 1 else ""
        norms = s["filter_norms"]
        line = (f"{name}: {out_channels} filters of {per_group} x {kh} x {kw} weights{grouping}; values from "
                f"{s['min']:.3f} to {s['max']:.3f} (mean {s['mean']:+.3f}, {s['share_positive']:.0%} positive); "
                f"filter norms {min(norms):.3f}-{max(norms):.3f}, strongest filter {s['strongest_filter']}")
        if s["summarised"]:
            line += (f"; the main figure shows the strongest {len(s['shown_filters'])} filters and "
                     f"{len(s['shown_slices'])} of {per_group} input slices")
        lines.append(line + ".")
    return lines
