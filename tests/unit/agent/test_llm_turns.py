"""The proxy's turns: one holder at a time, the others served in arrival order."""

from __future__ import annotations

import queue
import threading

from runtime.agent.llm_turns import Turns

WAIT = 10.0  # every wait in these tests is bounded by this
SHORT = 0.05  # a wait that is meant to time out


def take_in_thread(turns: Turns, name: str, served: queue.Queue[str]) -> threading.Thread:
    """Take the turn in a thread of its own, say so, and give it on."""

    def run() -> None:
        if turns.take(WAIT):
            served.put(name)
            turns.done()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_turn_is_held_by_one_at_a_time() -> None:
    turns = Turns()
    assert turns.take(WAIT)
    assert not turns.take(SHORT)  # held: the second waits, then gives up
    turns.done()
    assert turns.take(SHORT)  # free again, at once
    turns.done()


def test_waiters_are_served_in_arrival_order() -> None:
    turns, served = Turns(), queue.Queue[str]()
    assert turns.take(WAIT)
    threads = []
    for count, name in enumerate(["first", "second", "third"], start=1):
        threads.append(take_in_thread(turns, name, served))
        assert turns.wait_queued(count, WAIT)  # queued before the next one starts
    turns.done()
    assert [served.get(timeout=WAIT) for _ in threads] == ["first", "second", "third"]
    for thread in threads:
        thread.join(WAIT)
    assert turns.take(SHORT)  # each gave its turn on


def test_a_waiter_that_gives_up_leaves_no_place_behind() -> None:
    turns, served = Turns(), queue.Queue[str]()
    assert turns.take(WAIT)
    patient = take_in_thread(turns, "patient", served)
    assert turns.wait_queued(1, WAIT)
    assert not turns.take(SHORT)  # behind the patient one: gives up, leaves the queue
    assert not turns.wait_queued(2, SHORT)
    turns.done()
    assert served.get(timeout=WAIT) == "patient"
    patient.join(WAIT)
    assert turns.take(SHORT)  # the one that gave up holds no turn: it is free
