"""What each analysis can be asked: one frozen dataclass per analysis, every default written once.

The command line maps its arguments to these options, the report lists them per stage and a
notebook passes them to the analysis's `run_<analysis>` function. These modules import neither
torch nor matplotlib, so that the command line builds its parser and checks its options in
milliseconds. Each class has `check()`, which raises `NnscopeError` naming the option as the
command line spells it.
"""
