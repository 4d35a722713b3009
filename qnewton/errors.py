"""Errors raised at the project's boundaries.

`UsageError` marks a user mistake (bad option, bad file, bad config value). The CLI turns it
into one line on stderr and exit code 2, never a traceback. Library code raises it (or a plain
`ValueError` with a one-line message) where the caller passed something invalid.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A user-facing input error; its message is one line naming the field and the reason."""
