"""The command line (``./manage.py`` and the ``dva-ocr`` console script).

It sits above both ``dva_ocr`` and ``workers`` (it queues work), so it lives outside the core package.
"""

from dva_cli.main import main

__all__ = ["main"]
