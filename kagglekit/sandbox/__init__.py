"""A local, Kaggle-compatible server that the stock kaggle client talks to unchanged.

It serves competition bundles from folders (and the built-in demo), takes
submissions and scores them against the sealed solution, checks credentials,
rules and the daily limit, keeps its state in a folder, and breaks on request
for tests. Start it with ``kagglekit sandbox`` or ``Sandbox(...).start()``.
"""

from kagglekit.sandbox.server import Sandbox

__all__ = ["Sandbox"]
