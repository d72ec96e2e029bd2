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

import re

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
