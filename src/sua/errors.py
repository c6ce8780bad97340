"""The exception types users see: bad input, and a remote service that failed."""


class SUAInputError(ValueError):
    """Raised for input the library cannot use: the message names the problem and the fix.

    Subclasses ``ValueError`` so generic handlers still catch it.
    """


class SUAServiceError(RuntimeError):
    """A remote service (an OpenAI-compatible server) refused a request or kept failing.

    The message names the URL and the last error; the CLI prints it as one ``error:`` line.
    """
