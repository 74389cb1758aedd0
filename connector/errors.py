"""Errors a person fixes: each prints as one line and exits 2."""


class BadInput(Exception):
    """Bad input from the command line or a file given to it."""
