"""nnscope: see inside small neural networks and check every number by hand."""

__version__ = "0.1.0"
