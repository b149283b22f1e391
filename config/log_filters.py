"""Logging filters used by settings.LOGGING."""

import logging


class OneLine(logging.Filter):
    """Log the record as one line at WARNING: the message without its traceback.

    Django logs a DisallowedHost (a request naming a host not in ALLOWED_HOSTS) as an
    error with the exception's traceback; the traceback says nothing the message does not.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
