"""Run every benchmark in this directory: ``python benchmarks/run_all.py [--quick]``.

Each ``bench_*.py`` runs as its own process (``--quick`` is passed through); results land in
``benchmarks/results/``. The fairness benchmark also profiles one extra run of its largest size
in full mode and compares with the seed library when ``/tmp/seedvenv`` holds it (see README);
the primitive benchmark runs the five other primitives at issue 4's target sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main"]

BENCH_DIR = Path(__file__).resolve().parent
#: Extra arguments per benchmark in full (non-quick) mode.
FULL_EXTRA: dict[str, list[str]] = {"bench_fairness.py": ["--profile"]}


def main() -> int:
    """Run the selected benchmarks, then the plots; 1 if any benchmark failed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a few minutes)")
    parser.add_argument(
        "--only", default=None, help="comma-separated names: run only bench_<NAME>.py"
    )
    args = parser.parse_args()
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.only:
        wanted = {f"bench_{name.strip()}" for name in args.only.split(",")}
        scripts = [s for s in scripts if s.stem in wanted]
    failures: list[str] = []
    started_all = time.perf_counter()
    for script in scripts:
        command = [sys.executable, str(script)]
        if args.quick:
            command.append("--quick")
        else:
            command += FULL_EXTRA.get(script.name, [])
        print(f"== {script.name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=BENCH_DIR.parent)
        took = time.perf_counter() - started
        print(f"== {script.name}: exit {result.returncode} after {took:.0f} s", flush=True)
        if result.returncode != 0:
            failures.append(script.name)
    # PNG plots of whatever results exist (skipped with a message when matplotlib is absent)
    subprocess.run([sys.executable, str(BENCH_DIR / "plot.py")], cwd=BENCH_DIR.parent)
    print(f"== all done in {time.perf_counter() - started_all:.0f} s", flush=True)
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
