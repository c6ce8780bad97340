"""The one exception type users see for bad input."""


class SUAInputError(ValueError):
    """Raised for input the library cannot use: the message names the problem and the fix.

    Subclasses ``ValueError`` so generic handlers still catch it.
    """
