"""Figures (matplotlib only draws, computes nothing) and the HTML report."""
