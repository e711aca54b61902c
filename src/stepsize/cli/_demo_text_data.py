"""The text task's data: paragraphs of Python's own standard library, as character sequences.

The source files of a fixed list of standard-library modules (read from the running Python's
``stdlib`` folder: nothing is downloaded) are split into paragraphs at blank lines; each
paragraph, cut at ``MAX_CHARS``, is one sequence of character codes. Paragraphs vary from a
short line to a long block, so micro-batches hold very different numbers of tokens: what
token-weighted gradient accumulation is for. Every ``HELD_OUT``-th paragraph is held out.
"""

from __future__ import annotations

import dataclasses
import sysconfig
from pathlib import Path
from typing import Any

__all__ = [
    "HELD_OUT",
    "MAX_CHARS",
    "MODULES",
    "VOCAB",
    "TextData",
    "encode",
    "load",
    "micro_batches",
]

# Single-file modules in every Python the package supports, in a fixed order.
MODULES = (
    "argparse", "ast", "calendar", "configparser", "contextlib", "csv", "dataclasses",
    "difflib", "fractions", "functools", "gettext", "heapq", "inspect", "ipaddress",
    "optparse", "pprint", "random", "shlex", "shutil", "statistics", "string", "tarfile",
    "tempfile", "textwrap", "threading", "tokenize", "traceback", "typing", "uuid", "warnings",
)  # fmt: skip
MAX_CHARS = 160  # the longest sequence, in characters (tokens)
MIN_CHARS = 8
HELD_OUT = 10  # every 10th paragraph is held out
VOCAB = 128  # ASCII; any other character becomes 0


@dataclasses.dataclass(frozen=True)
class TextData:
    """Training and held-out sequences: lists of int64 arrays of character codes.

    Attributes:
        train, test: the sequences (each at least ``MIN_CHARS`` long).
        files: the source files read, relative to the standard library's folder.
    """

    train: list[Any]
    test: list[Any]
    files: list[str]

    def summary(self) -> dict[str, Any]:
        """JSON-able sizes of the data."""
        lengths = [len(s) for s in self.train]
        return {
            "dataset": "paragraphs of the Python standard library's source",
            "files": self.files,
            "train": len(self.train),
            "test": len(self.test),
            "train_tokens": int(sum(lengths)),
            "test_tokens": int(sum(len(s) for s in self.test)),
            "min_length": min(lengths),
            "max_length": max(lengths),
            "vocab": VOCAB,
        }


def encode(text: str) -> Any:
    """Character codes of ``text`` (non-ASCII characters become 0), as an int64 array.

    Example:
        >>> encode("ab\\u00e9").tolist()
        [97, 98, 0]
    """
    import numpy as np

    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    codes[codes >= VOCAB] = 0
    return codes


def load(limit: int | None = None, folder: Path | None = None) -> TextData:
    """Reads the modules' sources and splits them into train and held-out sequences.

    Args:
        limit: keep at most this many paragraphs (before the split), None for all.
        folder: the standard library's folder (default: the running Python's).

    Returns:
        The sequences; files a Python lacks are left out (and not listed).

    Raises:
        ValueError: if no paragraph is found.

    Example:
        >>> data = load(limit=100)
        >>> len(data.train), len(data.test)
        (90, 10)
    """
    root = Path(folder or sysconfig.get_paths()["stdlib"])
    files, paragraphs = [], []
    for module in MODULES:
        path = root / f"{module}.py"
        if not path.is_file():
            continue
        files.append(path.name)
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            paragraph = paragraph.strip("\n")
            if len(paragraph.strip()) >= MIN_CHARS:
                paragraphs.append(encode(paragraph[:MAX_CHARS]))
    paragraphs = paragraphs[:limit]
    if not paragraphs:
        raise ValueError(f"no source paragraphs found in {str(root)!r}")
    test = paragraphs[HELD_OUT - 1 :: HELD_OUT]
    train = [p for i, p in enumerate(paragraphs) if (i + 1) % HELD_OUT]
    return TextData(train, test, files)


def micro_batches(lengths: list[int], batch_size: int, rng: Any) -> list[Any]:
    """One epoch of micro-batches grouped by length, in random order.

    Sequences are shuffled, sorted by length within chunks of 32 micro-batches, cut into
    micro-batches of ``batch_size``, and the micro-batches shuffled: the grouping that keeps
    padding low (transformers' ``group_by_length``) and makes micro-batches hold very
    different numbers of tokens.

    Example:
        >>> import numpy as np
        >>> batches = micro_batches([5, 1, 4, 2, 3, 6], 2, np.random.default_rng(0))
        >>> sorted(sorted(int(i) for i in b) for b in batches)
        [[0, 5], [1, 3], [2, 4]]
    """
    import numpy as np

    order = rng.permutation(len(lengths))
    chunk = 32 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort([lengths[i] for i in part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
