"""The syntax of what a device is called in its tailnet: its hostname (one DNS label) and the tags a tag owner
grants it. Standard library only: the announcement protocol, the daemon and the thin command line all check them.
Use `fullmatch`: `$` would also accept a trailing newline."""

from __future__ import annotations

import re

HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # one DNS label, lower case
TAG = re.compile(r"tag:[a-z0-9][a-z0-9_-]{0,62}")
MAX_TAGS = 16
