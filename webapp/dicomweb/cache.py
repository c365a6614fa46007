"""Series metadata kept in memory once read: a viewer asks for the same series' metadata each
time a study is opened, and reading a few hundred headers costs about a second.

Keyed by the series and the hashes of its stored files, so a changed or added file changes the
key. Bounded by size; per process.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from webapp.dicomweb.dicomjson import Json

MAX_BYTES = 64 * 1024**2

_lock = threading.Lock()
_entries: OrderedDict[Hashable, tuple[list[Json], int]] = OrderedDict()
_size = 0


def cached(key: Hashable, build: Callable[[], list[Json]]) -> list[Json]:
    """The value under ``key``, built (outside the lock) and remembered when absent."""
    global _size
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key][0]
    value = build()
    size = len(json.dumps(value, separators=(",", ":")))
    if size > MAX_BYTES:
        return value
    with _lock:
        if key not in _entries:
            _entries[key] = (value, size)
            _size += size
        while _size > MAX_BYTES:
            _, (_, dropped) = _entries.popitem(last=False)
            _size -= dropped
    return value


def clear() -> None:
    global _size
    with _lock:
        _entries.clear()
        _size = 0
