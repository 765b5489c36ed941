"""In-memory archives, one per identity, for when no archive directory is configured.

Bounded like the app's caches: the least recently used identity's archive is dropped when a new
one is needed, and its memory with it. Keyed by :attr:`Identity.cache_key` (portal, org, user),
never by a secret, so two users of one org never share one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from creditlens.archive.store import Archive
from creditlens.portal import Identity

MAX_MEMORY_ARCHIVES = 4


class MemoryArchives:
    def __init__(self, max_entries: int = MAX_MEMORY_ARCHIVES) -> None:
        self.max_entries = max_entries
        self._archives: OrderedDict[str, Archive] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, identity: Identity, variant: str = "") -> Archive:
        """The identity's archive; ``variant`` separates data that must not mix (the demo org of each day)."""
        key = f"{identity.cache_key}|{variant}"
        with self._lock:
            archive = self._archives.get(key)
            if archive is None:
                archive = self._archives[key] = Archive(identity.org_id or "self")
            self._archives.move_to_end(key)
            while len(self._archives) > self.max_entries:
                self._archives.popitem(last=False)
            return archive

    def clear(self) -> None:
        with self._lock:
            self._archives.clear()

    def __len__(self) -> int:
        return len(self._archives)


#: The process's in-memory archives (the app's sessions and the CLI share this one).
MEMORY_ARCHIVES = MemoryArchives()


def archive_for(identity: Identity, directory=None) -> Archive:
    """The identity's archive: a file under ``directory`` when one is configured, else in memory."""
    if directory:
        return Archive(identity.org_id, directory)
    return MEMORY_ARCHIVES.get(identity)
