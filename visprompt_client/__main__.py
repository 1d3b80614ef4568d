"""``python -m visprompt_client``: the ``visprompt remote`` command on its own."""

from __future__ import annotations

import sys

from visprompt_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
