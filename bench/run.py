"""`make bench`: the whole system under wrk, on this machine, on loopback only.

Starts `shop up` on free ports with a fresh data directory, loads the demo catalog
(`shop seed-demo --products N`), creates verified customers, then drives each
scenario with wrk at each connection count for a bounded time, and writes
bench/results/<stamp>.json, <stamp>.md and (if matplotlib is installed) <stamp>.png.
Every figure is also given relative to the ceiling (GET /health/live of the
products service) measured in the same run. See bench/README.md.
"""

import sys
from pathlib import Path

# `python bench/run.py` puts bench/ itself on the path; the package is imported from
# the directory above it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
