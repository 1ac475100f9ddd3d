"""The one exception type for bad user input; the CLI turns it into one line and exit code 2."""


class NnscopeError(Exception):
    """Bad input (file, parameter, option, image, checkpoint): the message names what is wrong
    and what was expected, in one line."""


class ModelDoesNotRun(NnscopeError):
    """The model raised on every input shape tried. Any other defect (non-finite logits, a time limit,
    logits of the wrong shape) it showed on a shape it ran on, which says more."""


class ExitCalled(BaseException):
    """`os._exit()` called by the model's code while nnscope guarded the process (nnscope.cli.contained): a
    BaseException like SystemExit, so that no `except Exception` (the user's or an analysis's) takes it for a
    failure of one input and goes on."""
