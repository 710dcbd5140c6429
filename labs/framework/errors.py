"""Bad input to the labs' command line: reported in one line, exit status 2."""

EXIT_BAD_INPUT = 2


class BadInput(ValueError):
    """Input the labs cannot work with (unknown lab, bad student id, missing directory,
    malformed answers); the message names it."""
