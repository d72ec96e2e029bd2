"""Counting the blocks a child process starts after it was sent a signal.

A child reports each block as ``BLOCK <time.monotonic_ns()>`` (CLOCK_MONOTONIC is one
clock for every process of the machine). Lines that were still in the pipe when the
parent sent the signal carry earlier times, so a parent that reads late (a loaded
machine) does not count them.
Other output of the child (a warning on its merged stderr) is not counted.

The signal can land inside the child's ``print("BLOCK", ...)``, between its writes: the
child's ``KEYBOARD_INTERRUPT`` report then ends the unfinished line (``BLOCKKEYBOARD_INTERRUPT``),
so a report is recognised by how the line ends (:func:`is_interrupt_report`).
"""

import queue
import re
import signal
import subprocess
import sys
import threading
import time

_BLOCK = re.compile(r"BLOCK (\d+)")


def _block_times(seen):
    return [int(match.group(1)) for match in map(_BLOCK.search, seen) if match]


def count_blocks(seen):
    """How many ``BLOCK <ns>`` reports ``seen`` (a list of str) holds."""
    return len(_block_times(seen))


def blocks_started_after(seen, sent_ns):
    """How many ``BLOCK <ns>`` reports of ``seen`` started after ``sent_ns``."""
    return sum(1 for started in _block_times(seen) if started > sent_ns)


def is_interrupt_report(line):
    """Whether ``line`` (a str) carries the child's ``KEYBOARD_INTERRUPT`` report."""
    return line.endswith("KEYBOARD_INTERRUPT")


class ChildLines:
    """The stripped output lines of a child process, read by a thread.

    ``next()`` returns the next line (failing the test when the child ended first;
    the timeout is a hang guard, not a speed requirement); ``seen`` holds them all.
    """

    def __init__(self, child, timeout=120):
        self.seen = []
        self._timeout = timeout
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(child.stdout,), daemon=True).start()

    def _pump(self, stream):
        for line in iter(stream.readline, ""):
            self._lines.put(line.strip())
        self._lines.put(None)

    def next(self):
        line = self._lines.get(timeout=self._timeout)
        assert line is not None, "the child ended early:\n" + "\n".join(self.seen)
        self.seen.append(line)
        return line


def assert_sigint_stops_between_blocks(child_args, what, max_blocks_after=3):
    """Run ``python -u child_args...`` (a child that reports ``BLOCK <ns>`` per block
    and ``KEYBOARD_INTERRUPT`` on KeyboardInterrupt), send it SIGINT after two blocks
    and check that at most ``max_blocks_after`` blocks started after the signal and
    that the child then exits cleanly. ``what`` names the call in the failure."""
    child = subprocess.Popen([sys.executable, "-u", *child_args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines = ChildLines(child)
    try:
        while count_blocks(lines.seen) < 2:
            lines.next()
        sent = time.monotonic_ns()
        child.send_signal(signal.SIGINT)
        while not is_interrupt_report(lines.next()):
            assert blocks_started_after(lines.seen, sent) <= max_blocks_after, \
                f"SIGINT did not stop {what}"
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
