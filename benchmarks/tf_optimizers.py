"""The TensorFlow benchmark (``stepsize bench tf``) run from a checkout: this checkout's stepsize.

The benchmark ships with the package (``stepsize.bench.tf_optimizers``); this script runs it
with the sources next to it, taking the same options, e.g.::

    python benchmarks/tf_optimizers.py --quick --json tf.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stepsize.bench.tf_optimizers import main

if __name__ == "__main__":
    sys.exit(main())
