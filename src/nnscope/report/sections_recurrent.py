"""Report stages of Problems 3, 4 and 5: thin adapters over nnscope.recurrent."""

from nnscope.report.context import Context
