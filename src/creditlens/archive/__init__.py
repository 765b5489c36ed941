"""The usage archive: portal → archive → reports → pages.

Each UTC day is fetched once and refreshed only while ArcGIS Online may still revise it; every
range the app or the CLI shows is read back from here. See ``docs/archive.md``.
"""

from creditlens.archive.errors import ArchiveBusy, ArchiveError, NotCovered
from creditlens.archive.memory import MEMORY_ARCHIVES, archive_for
from creditlens.archive.store import Archive, archive_file, archived_orgs
from creditlens.archive.sync import SyncReport, WindowEvent, ensure
from creditlens.archive.view import ArchivedRange, MissingSpan, read_range

__all__ = [
    "MEMORY_ARCHIVES",
    "Archive",
    "ArchiveBusy",
    "ArchiveError",
    "ArchivedRange",
    "MissingSpan",
    "NotCovered",
    "SyncReport",
    "WindowEvent",
    "archive_file",
    "archive_for",
    "archived_orgs",
    "ensure",
    "read_range",
]
