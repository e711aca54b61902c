"""The torch benchmark (``stepsize bench torch``) run from a checkout: this checkout's stepsize.

The benchmark ships with the package (``stepsize.bench.torch_optimizers``); this script runs
it with the sources next to it, taking the same options, e.g.::

    python benchmarks/optimizers.py --quick
    python benchmarks/optimizers.py --device cuda --dtype bfloat16 --json bf16.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stepsize.bench.torch_optimizers import main

if __name__ == "__main__":
    sys.exit(main())
