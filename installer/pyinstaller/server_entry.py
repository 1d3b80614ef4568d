"""Frozen entry point of the bundled backend server (``visprompt-server`` executable)."""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from backend_server.__main__ import main

    sys.exit(main())
