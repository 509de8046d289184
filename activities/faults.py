"""Fault injection for the resilience tests: a worker that dies at a chosen point.

Inert unless ENVIRONMENT=test *and* BACKOFFICE_FAULTS names a point, e.g.
`BACKOFFICE_FAULTS=crash_after_commit:apply_change`. Each point fires once per marker
directory (BACKOFFICE_FAULT_DIR), so the restarted worker runs normally.
"""

from __future__ import annotations

import os
from pathlib import Path


def crash_point(name: str) -> None:
    spec = os.environ.get("BACKOFFICE_FAULTS", "")
    if not spec or os.environ.get("ENVIRONMENT") != "test":
        return
    if f"crash_after_commit:{name}" not in spec.split(","):
        return
    marker = Path(os.environ.get("BACKOFFICE_FAULT_DIR", ".")) / f"fault-{name}"
    if marker.exists():
        return
    marker.touch()
    os._exit(137)  # like a SIGKILL: no cleanup, no report to Temporal
