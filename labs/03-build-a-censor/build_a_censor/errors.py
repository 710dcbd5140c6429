"""What makes a student's censor unusable: said in one line, as bad input is."""

from labs.framework.errors import BadInput


class Unusable(BadInput):
    """A censor file that cannot be used (no file, a syntax error, no such class, refused
    parameters, an engine that does not start); the message says why and what to fix."""
