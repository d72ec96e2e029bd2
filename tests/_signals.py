"""Counting the blocks a child process starts after it was sent a signal.

A child reports each block as ``BLOCK <time.monotonic_ns()>`` (CLOCK_MONOTONIC is one
clock for every process of the machine). Lines that were still in the pipe when the
parent sent the signal carry earlier times, so a parent that reads late (a loaded
machine) does not count them.
"""


def count_blocks(seen):
    """How many ``BLOCK`` lines ``seen`` (a list of str) holds."""
    return sum(1 for line in seen if line.startswith("BLOCK "))


def blocks_started_after(seen, sent_ns):
    """How many ``BLOCK <ns>`` lines of ``seen`` started after ``sent_ns``."""
    return sum(1 for line in seen
               if line.startswith("BLOCK ") and int(line.split()[1]) > sent_ns)
