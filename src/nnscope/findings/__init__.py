"""The sentences built from the measurements: one module per analysis, `describe_<analysis>(result)
-> list[str]`, used alike by the command's human output and by the report. Nothing here computes a
number that is not in the result; every figure in a sentence is one the analysis measured."""
