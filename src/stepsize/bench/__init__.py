"""The speed benchmarks behind ``stepsize bench``: stepsize's optimizers against the references.

Each benchmark steps stepsize's optimizers and the reference implementations (torch,
transformers, Keras) on one BERT-like workload (:class:`~stepsize.bench._workload.Workload`),
taking turns step by step, and prints the median step time, its ratio to the references
measured in the same run, and the optimizer-state bytes per parameter; ``--json FILE`` also
writes the table as JSON.

Run them with ``stepsize bench torch|tf [--quick] [--json FILE]`` (``--help`` lists the
options). This package is a tool, not part of the library's API: its names may change between
releases. Nothing imports it except that command, so ``import stepsize`` stays light, and each
benchmark imports its framework only when it runs.
"""

__all__: list[str] = []
