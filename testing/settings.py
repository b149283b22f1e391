"""Settings of the servers and workers the test suite starts (`testing.live_stack.subprocess_env`):
the product's (config/settings.py, read from the same environment), with passwords hashed
at the suite's iteration count (`testing.passwords`)."""

from config.settings import *  # noqa: F403 (the product's settings, all of them)
from testing.passwords import QUICK_PASSWORD_HASHERS

PASSWORD_HASHERS = QUICK_PASSWORD_HASHERS
