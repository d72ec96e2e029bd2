"""Counting the blocks a child process starts after it was sent a signal.

A child reports each block as ``BLOCK <time.monotonic_ns()>`` (CLOCK_MONOTONIC is one
clock for every process of the machine). Lines that were still in the pipe when the
parent sent the signal carry earlier times, so a parent that reads late (a loaded
machine) does not count them.
Other output of the child (a warning on its merged stderr) is not counted.
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
