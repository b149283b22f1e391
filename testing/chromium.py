"""Headless Chromium from Debian, for the browser tests and the README's screenshots."""

from pathlib import Path

# The background-networking flags keep it from calling out (this machine's network is
# closed).
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
