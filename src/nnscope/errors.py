"""The one exception type for bad user input; the CLI turns it into one line and exit code 2."""


class NnscopeError(Exception):
    """Bad input (file, parameter, option, image, checkpoint): the message names what is wrong
    and what was expected, in one line."""
