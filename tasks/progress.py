"""Progress lines a step shows on the user's terminal.

A worker process gets a pipe to the terminal as the file descriptor named in
``NPUFORGE_PROGRESS_FD`` (everything else it writes goes to the step's log);
in the build process itself progress goes to stdout.
"""

from __future__ import annotations

import os
import sys

PROGRESS_FD = "NPUFORGE_PROGRESS_FD"
# when the running doit command began (time.time()), set by NPUForge's writing commands: a step can tell
# what this command made from what an earlier one did (verify-release counts the artifacts it rebuilt)
COMMAND_STARTED = "NPUFORGE_COMMAND_STARTED"


def progress(message: str) -> None:
    """Show one line of progress on the user's terminal."""
    line = message.rstrip("\n") + "\n"
    fd = os.environ.get(PROGRESS_FD)
    if fd:
        try:
            os.write(int(fd), line.encode())
            return
        except (OSError, ValueError):
            pass  # not a worker's pipe (a process the step started inherited the name): say it on stdout
    sys.stdout.write(line)
    sys.stdout.flush()


def say(line: str) -> None:
    """One whole line on the build's stdout (one write: steps side by side print between each other's lines)."""
    sys.stdout.write(line.rstrip("\n") + "\n")
    sys.stdout.flush()
