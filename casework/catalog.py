"""The complete registry: every process whose rules declare case types and task kinds.

Importing this module imports each process's `rules` (pure, sandbox-safe), whose
declarations fill `casework.registry`; read the registry through here wherever every entry
must be known (the inbox filter, the case page, the decision door, the narrative rules). A
new process adds one line below; a test package registers its own entries by importing its
module (no product file changes).
"""

from __future__ import annotations

import aml.rules
import casework.list_age_rules
import casework.manual_rules
import casework.process_watch
import casework.quality_rules
import changes.rules
import disputes.rules
import onboarding.rules
import reconciliation.rules
from casework.registry import (
    CASE_TYPE_LABELS,
    KIND_LABELS,
    CaseType,
    TaskKind,
    case_type,
    case_types,
    find_case_type,
    find_kind,
    kind,
    kinds,
)

PROCESS_RULES = (
    aml.rules,
    changes.rules,
    disputes.rules,
    onboarding.rules,
    reconciliation.rules,
    casework.process_watch,
    casework.quality_rules,
    casework.manual_rules,
    casework.list_age_rules,
)

__all__ = [
    "CASE_TYPE_LABELS",
    "KIND_LABELS",
    "PROCESS_RULES",
    "CaseType",
    "TaskKind",
    "case_type",
    "case_types",
    "find_case_type",
    "find_kind",
    "kind",
    "kinds",
]
