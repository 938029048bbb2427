#!/usr/bin/env python3
"""dva-ocr command line. Runs inside the project's virtualenv (.venv) whichever python started it."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_PY = ROOT / ".venv" / "bin" / "python"

if VENV_PY.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])

sys.path.insert(0, str(ROOT))

from dva_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
