"""The precision benchmark (``stepsize bench precision``) run from a checkout's sources.

Training quality and memory with bfloat16 weights (``stepsize.bench.torch_precision``), run
with the sources next to it, taking the same options, e.g.::

    python benchmarks/precision.py --quick
    python benchmarks/precision.py --problems regression memory --json precision.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stepsize.bench.torch_precision import main

if __name__ == "__main__":
    sys.exit(main())
