"""Analyses of the trained CNN, one per module."""
