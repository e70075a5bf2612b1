"""The LLM proxy's turns: with a budget set, one request at a time goes upstream.

The budget is checked when a request is admitted and its tokens are counted once it is
answered, so every request admitted before any is counted gets through: an agent that
sends many at once at the budget's edge would overrun it by as many.  With a budget,
the proxy (:mod:`runtime.agent.llm_proxy`) therefore admits a request only once the
one before has been answered and counted (:class:`Turns`); the overrun past a budget is
then at most what one request spends.  The others queue, in arrival order: none is
refused for waiting, and none waits forever.
"""

from __future__ import annotations

import threading
from collections import deque


class Turns:
    """One holder at a time, in arrival order (first come, first served).

    :meth:`take` waits for the turn (bounded); :meth:`done` hands it to the next in the
    queue.  A waiter that gives up leaves the queue, so it never blocks those behind.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()  # the head holds the turn

    def take(self, timeout: float) -> bool:
        """Wait for the turn; ``False`` (and out of the queue) after ``timeout`` seconds."""
        me = object()
        with self._changed:
            self._queue.append(me)
            self._changed.notify_all()  # for wait_queued
            if self._changed.wait_for(lambda: self._queue[0] is me, timeout):
                return True
            self._queue.remove(me)  # not the head: the holder is unaffected
            return False

    def done(self) -> None:
        """Give the turn taken with :meth:`take` to the next waiter."""
        with self._changed:
            self._queue.popleft()
            self._changed.notify_all()

    def wait_queued(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` wait behind the holder; ``False`` on timeout (for tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._queue) - 1 >= count, timeout)
