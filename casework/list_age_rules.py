"""Stale watch lists: a case for compliance when a list's newest version is older than its
maximum age (pure declarations, sandbox-safe).

One case per list version (workflow id `stale-list-<list>-<date>`), run by the generic case
workflow's standard steps: a KYC senior works it (imports the newer version, or says why
there is none), the MLRO reviews an escalation. Opened by the daily `watch-list-age`
schedule (workflows/list_age.py); what is stale is `screening.lists.stale_lists`.
"""

from __future__ import annotations

from casework.generic_case import standard_case

STALE_WATCH_LIST = "stale_watch_list"

standard_case(
    STALE_WATCH_LIST,
    "SWL",
    "Stale watch list",
    analyst_role="kyc_senior",
    senior_role="mlro",
    work_sla_hours=24,
    senior_sla_hours=24,
    resolve_reasons={
        "newer_version_imported": "A newer version of the list was imported",
        "publisher_has_nothing_newer": "The publisher has published nothing newer",
    },
    no_further_action_reasons={
        "list_being_disabled": "The list is being disabled (a configuration change is proposed)",
        "duplicate": "Duplicate of another case",
    },
)


def stale_case_workflow_id(label: str) -> str:
    """`stale-list-UN-SC-2026-02-27`: one case per list version, whatever runs the check."""
    return "stale-list-" + label.replace(" ", "-")
