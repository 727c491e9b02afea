"""Login throttling: failed attempts counted per user name and per client address (``limits``).

A user name is locked for the rest of its window after :data:`PER_USER` failures, whatever the
address (password guessing against one account), and an address after :data:`PER_ADDRESS`
failures, whatever the names (spraying). A successful login clears the name's count. Counts live
in this process's memory: with several portal processes each counts on its own, which multiplies
the allowance by their number.
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

PER_USER = "5/15minutes"
PER_ADDRESS = "30/15minutes"


class LoginThrottle:
    """Says how long a login must wait, and records failures and successes."""

    def __init__(self, per_user: str = PER_USER, per_address: str = PER_ADDRESS) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._user = parse(per_user)
        self._address = parse(per_address)

    def wait(self, username: str, address: str) -> int:
        """Seconds before this name may try again from this address (0: it may try now)."""
        for item, key in ((self._user, f"user:{username.lower()}"), (self._address, f"ip:{address}")):
            if not self._limiter.test(item, "login", key):
                reset, _remaining = self._limiter.get_window_stats(item, "login", key)
                return max(1, int(reset - time.time()) + 1)
        return 0

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt against the name and the address."""
        self._limiter.hit(self._user, "login", f"user:{username.lower()}")
        self._limiter.hit(self._address, "login", f"ip:{address}")

    def succeeded(self, username: str) -> None:
        """Forget the name's failures."""
        self._limiter.clear(self._user, "login", f"user:{username.lower()}")
