"""The one error type kagglekit raises for anything a user can fix."""


class KagglekitError(Exception):
    """A problem the user can act on; the message says what to do.

    The CLI prints it as one red line and exits with code 1, so the message
    must be a single sentence naming the bad input and the way out.
    """
