"""How fast the command line answers ``--help``, and whether answering it imported torch.

Each help is run in a fresh ``python -m fromzero ... --help`` process (interpreter start-up
included, as a user sees it); the median of the runs is printed. The goal is under 0.5 s, with
neither torch nor numpy imported.

    python benchmarks/cli_help.py            # 5 runs of each help
    python benchmarks/cli_help.py --runs 9
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

# the process prints which heavy packages its help imported, after the help itself
PROBE = ("import runpy, sys\nsys.argv = ['fromzero', *sys.argv[1:]]\ntry:\n"
         "    runpy.run_module('fromzero', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('imported:', ','.join(m for m in ('torch', 'numpy') if m in sys.modules) or 'none')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per help (default: 5)")
    args = parser.parse_args()
    from fromzero.cli import COMMANDS

    print(f"{'command':34s}{'median s':>10s}{'max s':>8s}  imported")
    for argv in [None, []] + [name.split() for name in COMMANDS]:
        times, imported = [], ""
        for _ in range(args.runs):
            t0 = time.perf_counter()
            cmd = ["-c", "pass"] if argv is None else ["-c", PROBE, *argv, "--help"]  # None: the interpreter alone
            r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            imported = r.stdout.strip().splitlines()[-1].removeprefix("imported: ") if argv is not None else ""
        name = "python -c pass (start-up)" if argv is None else " ".join(["fromzero", *argv, "--help"])
        print(f"{name:34s}{statistics.median(times):10.3f}{max(times):8.3f}  {imported}")


if __name__ == "__main__":
    main()
