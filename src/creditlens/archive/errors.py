"""The archive's errors: one-line messages for the page and the CLI."""

from __future__ import annotations

from creditlens.errors import CreditLensError


class ArchiveError(CreditLensError):
    """The archive cannot be opened, read or written as asked."""


class ArchiveBusy(ArchiveError):
    """Another sync of the same org holds the writer lock."""


class NotCovered(ArchiveError):
    """An offline read asked for days the archive does not hold."""
