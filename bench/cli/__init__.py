"""Command line: ``python -m bench COMMAND``.

``commands`` declares them (``parser``); ``running`` (run, sweep, tune), ``reporting``
(analyze, leaderboard, perf, screenshots) and ``maintenance`` (list, check, data,
migrate-store, restamp, gpu-check) carry them out; ``options`` reads their values. User
errors end as one line on stderr and exit status 2, never as a traceback.
"""

from __future__ import annotations

import os
import sys

from bench.cli.commands import parser
from bench.errors import UserError

__all__ = ["main", "parser"]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m bench list | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no flush to a closed pipe at exit)
        return 0
    finally:
        sys.stdout.flush()
