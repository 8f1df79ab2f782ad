"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class SalicodecError(Exception):
    """Bad input or an impossible request, explained in one line for the person who asked."""


class FormatError(SalicodecError):
    """A .sali file that is not valid: wrong magic, unknown version, bad CRC, truncated, ..."""
