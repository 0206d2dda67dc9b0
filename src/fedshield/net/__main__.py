"""``python -m fedshield.net {ca,server,client}``: the deployment commands,
the same as ``fedshield ca|server|client`` (the test harness launches this)."""

from __future__ import annotations

import sys

from fedshield.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
