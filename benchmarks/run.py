# SPDX-License-Identifier: Apache-2.0
"""Runs the benchmark suites in this process and returns non-zero if a correctness check failed.

    python benchmarks/run.py [--suite dbini|poisson] [--smoke] [--repeats N] [--json OUT]

Unknown options are passed to the suite (see ``bm_dbini.py --help``, ``bm_poisson.py --help``).
OPENBLAS_NUM_THREADS is forced to 1 here, before anything imports numpy.
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

SUITES = ("dbini", "poisson")
# Suites run only when named: the pipeline benchmark takes minutes (20 people, Poisson depth 10).
EXTRA_SUITES = ("pipeline",)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=True)
    ap.add_argument("--suite", choices=SUITES + EXTRA_SUITES + ("all",), default="all",
                    help="'all' runs the kernel suites (%s); 'pipeline' runs bm_pipeline.py" % ", ".join(SUITES))
    args, rest = ap.parse_known_args(argv)
    rc = 0
    for name in SUITES if args.suite == "all" else (args.suite,):
        if name == "dbini":
            import bm_dbini
            rc |= bm_dbini.main(rest)
        elif name == "pipeline":
            import bm_pipeline
            rc |= bm_pipeline.main(rest)
        elif name == "poisson":
            import bm_poisson
            rc |= bm_poisson.main(rest)
    return rc


if __name__ == "__main__":
    sys.exit(main())
