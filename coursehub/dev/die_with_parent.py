"""Dev-only: make a process die with its parent, so nothing outlives ``coursehub dev``.

``die_with_parent(signum)`` asks Linux to send ``signum`` when the parent exits
(``PR_SET_PDEATHSIG``; kept across ``exec``). ``python -m coursehub.dev.die_with_parent CMD …``
does that and then runs ``CMD``: the hub starts its managed services through it in dev,
because JupyterHub puts them in their own session and a hub that is killed leaves them
running otherwise.
"""

from __future__ import annotations

import os
import signal
import sys

from coursehub.linux import PR_SET_PDEATHSIG, prctl


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    prctl(PR_SET_PDEATHSIG, signum, "prctl(PR_SET_PDEATHSIG)")


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m coursehub.dev.die_with_parent COMMAND [ARG ...]")
    die_with_parent(signal.SIGTERM)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
