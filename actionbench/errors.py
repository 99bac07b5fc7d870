"""The project's one error type for bad input.

Every reader (annotations, probe sets, bundles, submissions, caches) raises `InputError`, or a subclass
named after what it reads, with a one-line message naming the file, line and field at fault. The CLI prints
that message as plain text (no markup) and exits with status 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """A file, record, field or option the user can fix; the message is one line naming it."""


def one_line(message: object) -> str:
    """`message` on one line: newlines and other control characters shown escaped, so a file name or id cannot
    forge further lines of output."""
    text = str(message)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
