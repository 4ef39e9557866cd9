"""Keeps one `weed` process and cleans up after it.

`python -m odpipe.local.weed_keeper -- <weed args>`: starts weed (which dies if the keeper does),
forwards SIGTERM/SIGINT to it, and when it has exited removes the unix sockets weed leaves in /tmp (its
gRPC sockets have fixed paths there). S3Server starts the keeper with SIGTERM as its parent-death signal,
so a SIGKILLed `odpipe run` still ends with no server and no sockets left behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType

from odpipe.local.procs import die_with_parent


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python -m odpipe.local.weed_keeper -- WEED_BINARY ARGS...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    proc = subprocess.Popen(command, preexec_fn=die_with_parent)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = proc.wait()
    from odpipe.local.s3server import sweep_stale_sockets

    sweep_stale_sockets()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
