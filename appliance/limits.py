"""In-process limits for public endpoints: request rates per key (429 + Retry-After) and caps on concurrent holds.

One process by design, so the counts live in memory; a restart forgets them, which is harmless for a limit.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque

from appliance.errors import AppError


class RateLimit:
    """At most `count` events per `seconds` for each key (a sliding window of timestamps)."""

    def __init__(self, count: int, seconds: float, max_keys: int = 100_000):
        self.count, self.seconds, self.max_keys = count, seconds, max_keys
        self._lock = threading.Lock()
        self._hits: dict[str, deque] = {}

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may act again (0: allowed now); does not count anything."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._window(key, now)
            return 0.0 if hits is None or len(hits) < self.count else hits[0] + self.seconds - now

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one event for `key` if allowed; 0 when counted, else the seconds to wait (nothing counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._window(key, now)
            if hits is not None and len(hits) >= self.count:
                return hits[0] + self.seconds - now
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._prune(now)
                hits = self._hits[key] = deque()
            hits.append(now)
            return 0.0

    def reset(self, key: str) -> None:
        """Forget `key`'s events (a successful login clears its failures)."""
        with self._lock:
            self._hits.pop(key, None)

    def _window(self, key: str, now: float) -> deque | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def _prune(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.seconds]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:  # still full of live keys: drop the oldest ones
            del self._hits[next(iter(self._hits))]


class Slots:
    """Caps on concurrent holders (open streams): in total and per key."""

    def __init__(self, total: int):
        self.total = total
        self._lock = threading.Lock()
        self._used = 0
        self._per_key: dict[str, int] = {}

    @property
    def used(self) -> int:
        """How many slots are held now."""
        with self._lock:
            return self._used

    def acquire(self, keys: dict[str, int]) -> bool:
        """Take one slot in total and one for each key (key -> its cap); False, taking nothing, if any is full."""
        with self._lock:
            if self._used >= self.total or any(self._per_key.get(k, 0) >= cap for k, cap in keys.items()):
                return False
            self._used += 1
            for key in keys:
                self._per_key[key] = self._per_key.get(key, 0) + 1
            return True

    def release(self, keys: dict[str, int]) -> None:
        """Give back what `acquire(keys)` took."""
        with self._lock:
            self._used -= 1
            for key in keys:
                left = self._per_key.get(key, 0) - 1
                if left > 0:
                    self._per_key[key] = left
                else:
                    self._per_key.pop(key, None)


def too_many(retry_after: float, message: str) -> AppError:
    """The one 429: a sentence and a whole number of seconds in Retry-After."""
    seconds = max(1, math.ceil(retry_after))
    return AppError(429, "rate_limited", message, headers={"Retry-After": str(seconds)})
