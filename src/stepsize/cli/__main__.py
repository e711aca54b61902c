"""``python -m stepsize.cli``: the ``stepsize`` command."""

from stepsize.cli import main

raise SystemExit(main())
