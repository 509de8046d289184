"""The Casbin policy as a truth table: role x object x action → allow / deny (promises 22, 23)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from models.roles import ROLES
from policies.enforcer import MODEL_PATH, POLICY_PATH, PolicyError, PolicyStore, read_rules

# Who reads what lies behind an AML restriction and an AML case's narrative (issue 13).
_DETAIL_READERS = {"aml_analyst", "aml_investigator", "mlro", "risk_manager", "auditor"}

# Who works each case type, so writes its notes and uploads its files (issue 15).
_CASE_WORKERS = {
    "aml": {"aml_analyst", "aml_investigator", "mlro"},
    "onboarding": {"kyc_analyst", "kyc_senior"},
    "screening_alert": {"kyc_analyst", "kyc_senior"},
    "dispute": {"disputes_agent"},
    "recon_exception": {"finance_ops"},
    "change_request": {"product_manager", "ops_manager", "risk_manager"},
}
# Who else writes notes (not files) on a case type: leads, ops managers on breaks.
_NOTE_ALSO = {
    "onboarding": {"kyc_lead"},
    "dispute": {"disputes_lead"},
    "recon_exception": {"finance_lead", "ops_manager"},
}
# Who may snooze a case they work, and who else tags cases (issue 15, follow-up).
_SNOOZERS = {
    "kyc_analyst",
    "kyc_senior",
    "aml_analyst",
    "aml_investigator",
    "mlro",
    "disputes_agent",
    "finance_ops",
    "ops_manager",
}
_LEADS = {"aml_lead", "kyc_lead", "disputes_lead", "finance_lead"}
# Who opens an investigation by hand (compliance); front-line roles never read one.
_INVESTIGATION_OPENERS = {"aml_analyst", "aml_investigator", "mlro", "kyc_analyst", "kyc_senior"}
# Who may own a role in access reviews (AccessPolicy.review_owners), with the admins.
_ACCESS_REVIEWERS = {"admin", "mlro", "risk_manager", "ops_manager", *_LEADS}

# Every row is a decision the product depends on. Missing combinations are denied.
TRUTH = [
    # role, object, action, expected
    ("product_manager", "change", "propose", True),
    ("product_manager", "change", "approve", False),
    ("product_manager", "change", "withdraw", True),
    ("product_manager", "task", "work", False),
    ("product_manager", "tariff", "read", True),
    ("product_manager", "case:change_request", "read", True),
    ("product_manager", "audit", "read", False),
    ("ops_manager", "change", "approve", True),
    ("finance_ops", "reconciliation", "upload", True),
    ("finance_ops", "reconciliation", "manage_sources", True),
    ("finance_ops", "case:recon_exception", "read", True),
    ("finance_ops", "task", "work", True),
    ("finance_ops", "reconciliation", "approve_source", True),
    ("finance_ops", "case:change_request", "read", True),
    ("finance_ops", "change", "approve", False),
    ("ops_manager", "reconciliation", "approve_source", True),
    ("ops_manager", "reconciliation", "manage_sources", False),
    ("product_manager", "reconciliation", "approve_source", False),
    ("auditor", "reconciliation", "approve_source", False),
    ("ops_manager", "reconciliation", "upload", False),
    ("ops_manager", "case:recon_exception", "read", True),
    ("upstream_system", "reconciliation", "upload", True),
    ("upstream_system", "reconciliation", "manage_sources", False),
    ("auditor", "reconciliation", "read", True),
    ("auditor", "reconciliation", "upload", False),
    ("support", "reconciliation", "read", False),
    ("kyc_analyst", "reconciliation", "upload", False),
    ("ops_manager", "change", "approve_elevated", False),
    ("ops_manager", "change", "propose", False),
    ("ops_manager", "task", "work", True),
    ("risk_manager", "change", "approve_elevated", True),
    ("risk_manager", "change", "propose", True),
    ("auditor", "audit", "read", True),
    ("auditor", "audit", "verify", True),
    ("auditor", "case:change_request", "read", True),
    ("auditor", "case:anything_later", "read", True),
    ("auditor", "change", "propose", False),
    ("auditor", "task", "work", False),
    ("engineer", "ops", "read", True),
    # the Temporal UI behind /temporal/: engineers and auditors only (read-only proxy)
    *[(role, "temporal_ui", "read", role in {"engineer", "auditor"}) for role in ROLES],
    # decoded workflow payloads (the codec endpoint /codec/decode): the same two roles
    *[(role, "workflow_history", "read", role in {"engineer", "auditor"}) for role in ROLES],
    *[(role, "workflow_history", "write", False) for role in ROLES],
    # ... and per payload scope (bo-scope): engineers not AML, KYC, dispute or untagged ones
    *[
        (role, f"workflow_history:{scope}", "read", role == "auditor")
        for role in ROLES
        for scope in ("aml", "kyc", "dispute", "unscoped")
    ],
    *[
        (role, f"workflow_history:{scope}", "read", role in {"engineer", "auditor"})
        for role in ROLES
        for scope in ("change", "recon", "process", "other")
    ],
    *[(role, "workflow_history:aml", "write", False) for role in ROLES],
    ("engineer", "case:change_request", "read", True),
    ("engineer", "change", "approve", False),
    ("admin", "staff", "manage", True),
    ("admin", "change", "approve", False),
    # Role grants (issue 16): admins propose and approve them, read their change pages.
    ("admin", "case:change_request", "read", True),
    ("admin", "change", "read", True),
    ("admin", "change", "withdraw", True),
    ("admin", "task", "work", True),
    *[(role, "staff", "propose_roles", role == "admin") for role in ROLES],
    *[(role, "staff", "approve_roles", role == "admin") for role in ROLES],
    *[(role, "staff", "approve_role_conflict", role == "risk_manager") for role in ROLES],
    ("support", "case:change_request", "read", False),
    ("support", "case:dispute", "read", True),
    ("support", "tariff", "read", True),
    ("support", "task", "work", False),
    ("kyc_analyst", "case:onboarding", "read", True),
    ("kyc_analyst", "case:aml", "read", False),
    ("mlro", "case:aml", "read", True),
    # configuration documents: read by compliance, changed by risk / MLRO under four-eyes
    ("risk_manager", "config", "read", True),
    ("risk_manager", "change", "propose_config", True),
    ("risk_manager", "change", "approve_config", True),
    ("mlro", "change", "propose_config", True),
    ("mlro", "change", "approve_config", True),
    ("mlro", "change", "propose", False),
    ("mlro", "case:change_request", "read", True),
    ("product_manager", "change", "propose_config", False),
    ("product_manager", "config", "read", False),
    ("ops_manager", "change", "approve_config", False),
    ("kyc_analyst", "config", "read", True),
    ("kyc_analyst", "change", "propose_config", False),
    ("kyc_senior", "config", "read", True),
    ("aml_analyst", "config", "read", True),
    ("aml_investigator", "config", "read", True),
    ("auditor", "config", "read", True),
    ("auditor", "change", "propose_config", False),
    ("auditor", "change", "approve_config", False),
    ("engineer", "config", "read", True),
    ("engineer", "change", "approve_config", False),
    ("support", "config", "read", False),
    ("disputes_agent", "config", "read", False),
    # onboarding: applications come in from upstream systems (or support / an analyst)
    ("upstream_system", "application", "submit", True),
    ("upstream_system", "application", "read", True),
    ("upstream_system", "task", "work", False),
    ("upstream_system", "customer", "read", False),
    ("upstream_system", "case:onboarding", "read", False),
    ("support", "application", "submit", True),
    ("support", "customer", "read", True),
    ("kyc_analyst", "application", "submit", True),
    ("kyc_senior", "application", "submit", False),
    ("kyc_senior", "case:onboarding", "read", True),
    ("kyc_analyst", "case:screening_alert", "read", True),
    ("support", "case:screening_alert", "read", False),
    ("kyc_analyst", "screening", "whitelist", True),
    ("kyc_senior", "screening", "whitelist", True),
    ("aml_analyst", "screening", "whitelist", False),
    ("support", "screening", "whitelist", False),
    ("auditor", "application", "read", True),
    ("auditor", "application", "submit", False),
    ("aml_analyst", "application", "submit", False),
    # transaction monitoring: core banking posts, compliance reads, nobody else writes
    ("upstream_system", "transaction", "submit", True),
    ("upstream_system", "case:aml", "read", False),
    ("aml_analyst", "transaction", "submit", False),
    ("aml_analyst", "transaction", "read", True),
    ("support", "transaction", "read", True),
    ("auditor", "transaction", "read", True),
    ("auditor", "transaction", "submit", False),
    ("aml_analyst", "aml", "read", True),
    ("aml_analyst", "aml", "report", False),
    ("mlro", "aml", "report", True),
    ("support", "aml", "read", False),
    ("support", "case:aml", "read", False),
    ("auditor", "case:aml", "read", True),
    # restrictions: L2 and the MLRO restrict at once; lifting is four-eyes, approved by an MLRO
    ("aml_investigator", "account", "restrict", True),
    ("mlro", "account", "restrict", True),
    ("aml_analyst", "account", "restrict", False),
    ("support", "account", "restrict", False),
    ("auditor", "account", "restrict", False),
    ("aml_investigator", "change", "propose_restriction_lift", True),
    ("aml_investigator", "change", "approve_restriction_lift", False),
    ("mlro", "change", "approve_restriction_lift", True),
    ("ops_manager", "change", "approve_restriction_lift", False),
    ("auditor", "change", "approve_restriction_lift", False),
    # disputes: support opens and records withdrawals, agents work them, nobody else writes
    ("support", "dispute", "open", True),
    ("support", "dispute", "withdraw", True),
    ("support", "dispute", "evidence", False),
    ("support", "dispute", "sandbox", False),
    ("upstream_system", "dispute", "open", True),
    ("upstream_system", "dispute", "merchant_response", True),
    ("disputes_agent", "dispute", "merchant_response", False),
    ("support", "dispute", "merchant_response", False),
    ("disputes_agent", "dispute", "evidence", True),
    ("disputes_agent", "dispute", "sandbox", True),
    ("disputes_agent", "dispute", "report", True),
    ("disputes_agent", "case:dispute", "read", True),
    ("disputes_agent", "task", "work", True),
    ("kyc_analyst", "dispute", "open", False),
    ("aml_analyst", "case:dispute", "read", False),
    ("auditor", "dispute", "read", True),
    ("auditor", "dispute", "open", False),
    ("auditor", "dispute", "withdraw", False),
    ("auditor", "dispute", "sandbox", False),
    ("engineer", "dispute", "read", True),
    ("engineer", "dispute", "open", False),
    ("finance_ops", "adjustment", "read", True),
    ("upstream_system", "adjustment", "read", True),
    ("product_manager", "adjustment", "read", False),
    # need-to-know (issue 13): a restriction's reason, author and case for AML casework,
    # risk and audit only; support and disputes see "restricted — refer to compliance"
    *[(role, "restriction_detail", "read", role in _DETAIL_READERS) for role in ROLES],
    # AML events in a customer's timeline: casework, risk, audit, engineers (metadata)
    *[(role, "aml_event", "read", role in {*_DETAIL_READERS, "engineer"}) for role in ROLES],
    # an AML case's narrative (alert texts, reasons, comments): not engineers
    *[(role, "aml_narrative", "read", role in _DETAIL_READERS) for role in ROLES],
    # SAR reports and SAR decisions: the MLRO and auditors, nobody else
    *[(role, "sar", "read", role in {"mlro", "auditor"}) for role in ROLES],
    ("engineer", "case:aml", "read", True),  # the case's metadata stays readable
    ("engineer", "aml", "read", True),
    # repairing a case whose workflow ended outside backoffice: engineers propose and
    # approve (two people, enforced by segregation); nobody else, auditors explicitly not
    *[(role, "process", "propose_repair", role == "engineer") for role in ROLES],
    *[(role, "process", "approve_repair", role == "engineer") for role in ROLES],
    ("engineer", "task", "work", True),
    # the status page (components, pollers, schedules, outbox): engineers and admins only
    *[(role, "status", "read", role in {"engineer", "admin"}) for role in ROLES],
    # assigning a task to a named person: the team leads only (issue 15)
    *[
        (role, "task", "assign", role in {"aml_lead", "kyc_lead", "disputes_lead", "finance_lead"})
        for role in ROLES
    ],
    # leads read their own team's cases, not the others'
    ("aml_lead", "case:aml", "read", True),
    ("aml_lead", "case:onboarding", "read", False),
    ("kyc_lead", "case:onboarding", "read", True),
    ("kyc_lead", "case:aml", "read", False),
    ("disputes_lead", "case:dispute", "read", True),
    ("finance_lead", "case:recon_exception", "read", True),
    ("aml_lead", "task", "work", False),
    # bulk actions on AML tasks: AML analysts and their lead
    *[(role, "aml", "bulk", role in {"aml_analyst", "aml_lead"}) for role in ROLES],
    # the quality review of bulk closes
    ("aml_analyst", "case:quality_review", "read", True),
    ("aml_lead", "case:quality_review", "read", True),
    ("auditor", "case:quality_review", "read", True),
    ("kyc_analyst", "case:quality_review", "read", False),
    # the workload view and the inbox's "my team": the team leads only (issue 15)
    *[
        (
            role,
            "workload",
            "read",
            role in {"aml_lead", "kyc_lead", "disputes_lead", "finance_lead"},
        )
        for role in ROLES
    ],
    # case notes and files (issue 15): written by the roles that work the case type
    *[
        (
            role,
            f"case_note:{case_type}",
            "write",
            role in workers | _NOTE_ALSO.get(case_type, set()),
        )
        for case_type, workers in _CASE_WORKERS.items()
        for role in ROLES
    ],
    *[
        (role, f"case_file:{case_type}", "upload", role in workers)
        for case_type, workers in _CASE_WORKERS.items()
        for role in ROLES
    ],
    ("aml_lead", "case_note:aml", "write", False),  # leads of AML do not read its narrative
    ("aml_analyst", "case_file:aml", "remove", True),
    ("support", "case_file:dispute", "remove", False),
    ("auditor", "case_file:anything_later", "remove", False),
    ("auditor", "case_note:anything_later", "write", False),
    ("engineer", "case_note:aml", "write", False),
    # …and on manual cases: investigations stay with compliance, complaints with the front line
    *[
        (
            role,
            "case_note:investigation",
            "write",
            role in {"aml_analyst", "aml_investigator", "mlro"},
        )
        for role in ROLES
    ],
    *[
        (role, "case_file:investigation", "upload", role in {"aml_investigator", "mlro"})
        for role in ROLES
    ],
    *[
        (role, "case_note:complaint", "write", role in {"support", "disputes_agent", "ops_manager"})
        for role in ROLES
    ],
    *[
        (role, "case_file:complaint", "upload", role in {"support", "disputes_agent"})
        for role in ROLES
    ],
    # follow-up (issue 15): snooze by the roles that work cases (the domain also wants the
    # person to work that case); tags by them and the team leads; never auditors
    *[(role, "case", "snooze", role in _SNOOZERS) for role in ROLES],
    *[(role, "case", "tag", role in _SNOOZERS | _LEADS) for role in ROLES],
    # stale watch lists (issue 18): compliance's case, the KYC senior's to work
    *[
        (
            role,
            "case:stale_watch_list",
            "read",
            role in {"kyc_senior", "mlro", "kyc_lead", "auditor", "engineer"},
        )
        for role in ROLES
    ],
    *[
        (role, "case_note:stale_watch_list", "write", role in {"kyc_senior", "mlro"})
        for role in ROLES
    ],
    # manual cases (issue 15): compliance opens investigations, support complaints
    *[(role, "case:investigation", "open", role in _INVESTIGATION_OPENERS) for role in ROLES],
    *[(role, "case:complaint", "open", role in {"support", "disputes_agent"}) for role in ROLES],
    *[
        (
            role,
            "case:investigation",
            "read",
            role in _INVESTIGATION_OPENERS | {"risk_manager", "aml_lead", "auditor", "engineer"},
        )
        for role in ROLES
    ],
    *[
        (
            role,
            "case:complaint",
            "read",
            role
            in {"support", "disputes_agent", "ops_manager", "disputes_lead", "auditor", "engineer"},
        )
        for role in ROLES
    ],
    # access reviews (issue 16): role owners and admins review; admins and auditors read all
    *[(role, "access_review", "read", role in {*_ACCESS_REVIEWERS, "auditor"}) for role in ROLES],
    *[(role, "access_review", "review", role in _ACCESS_REVIEWERS) for role in ROLES],
    *[(role, "access_review", "report", role in {"admin", "auditor"}) for role in ROLES],
    *[(role, "access_review", "manage", role == "admin") for role in ROLES],
]


@pytest.fixture(scope="module")
def store() -> PolicyStore:
    return PolicyStore()


@pytest.mark.parametrize(("role", "obj", "act", "expected"), TRUTH)
def test_truth_table(store: PolicyStore, role: str, obj: str, act: str, expected: bool) -> None:
    assert store.allowed([role], obj, act) is expected


def test_every_role_is_known_to_the_policy(store: PolicyStore) -> None:
    roles_in_policy = {rule.role for rule in read_rules(POLICY_PATH)}
    assert roles_in_policy == set(ROLES)


def test_explicit_deny_beats_an_allow_from_another_role(store: PolicyStore) -> None:
    assert store.allowed(["product_manager"], "change", "propose")
    assert not store.allowed(["product_manager", "auditor"], "change", "propose")
    assert not store.allowed(["ops_manager", "auditor"], "task", "work")
    assert not store.allowed(["risk_manager", "auditor"], "change", "approve_config")
    assert not store.allowed(["engineer", "auditor"], "process", "approve_repair")


def test_whoever_talks_to_customers_never_learns_why_an_account_is_restricted(
    store: PolicyStore,
) -> None:
    """Tipping-off: the deny holds even for someone who also holds an AML role."""
    for front in ("support", "disputes_agent"):
        for aml_role in ("aml_analyst", "aml_investigator", "mlro", "auditor"):
            assert not store.allowed([front, aml_role], "restriction_detail", "read")
            assert not store.allowed([front, aml_role], "aml_event", "read")
    assert store.allowed(["aml_investigator", "kyc_analyst"], "restriction_detail", "read")
    for front in ("support", "disputes_agent"):
        assert not store.allowed([front, "aml_investigator"], "case:investigation", "read")


def test_no_roles_unknown_roles_or_wildcards_grant_nothing(store: PolicyStore) -> None:
    assert not store.allowed([], "tariff", "read")
    assert not store.allowed(["*"], "tariff", "read")
    assert not store.allowed([""], "tariff", "read")
    assert not store.allowed(["superuser"], "tariff", "read")
    assert not store.allowed(["ops_manager"], "", "read")
    assert not store.allowed(["ops_manager"], "change", "")


@pytest.mark.parametrize(
    "line",
    [
        "p, *, tariff, read, allow",
        "p, , tariff, read, allow",
        "p, superuser, tariff, read, allow",
        "p, ops_manager, *, read, allow",
        "p, ops_manager, tariff, read, maybe",
    ],
)
def test_a_policy_file_with_wildcard_or_empty_subject_is_refused(tmp_path: Path, line: str) -> None:
    policy = tmp_path / "policy.csv"
    policy.write_text(POLICY_PATH.read_text() + "\n" + line + "\n")
    with pytest.raises(PolicyError):
        PolicyStore(MODEL_PATH, policy)


def test_reloads_never_give_a_wrong_answer_mid_request(tmp_path: Path) -> None:
    """Readers hammer the enforcer while another thread reloads it again and again."""
    policy = tmp_path / "policy.csv"
    shutil.copy(POLICY_PATH, policy)
    store = PolicyStore(MODEL_PATH, policy)
    wrong: list[tuple[str, str, str, bool]] = []
    crashed: list[BaseException] = []
    checks = [0]
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for role, obj, act, expected in TRUTH:
                    # Mixed role sets too, so answers are not all served from one cache entry.
                    if store.allowed([role], obj, act) is not expected:
                        wrong.append((role, obj, act, expected))
                    if store.allowed([role, "auditor"], "change", "propose"):
                        wrong.append((role, "change", "propose", False))
                    checks[0] += 1
        except BaseException as exc:  # a dead reader would silently stop checking
            crashed.append(exc)

    def reloader() -> None:
        # At least 60 reloads, and on until the readers have checked the whole table ten
        # times while reloads were happening: a condition, not a time budget (a loaded machine
        # starves the readers; pytest's timeout is the backstop).
        reloads = 0
        while reloads < 60 or (checks[0] <= len(TRUTH) * 10 and not crashed):
            store.reload()
            reloads += 1

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    reloading = threading.Thread(target=reloader)
    reloading.start()
    reloading.join()
    stop.set()
    for t in readers:
        t.join()
    assert store.generation >= 61
    assert crashed == []
    assert wrong == []
    assert checks[0] > len(TRUTH) * 10


def test_a_broken_reload_keeps_the_previous_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.csv"
    shutil.copy(POLICY_PATH, policy)
    store = PolicyStore(MODEL_PATH, policy)
    policy.write_text("p, *, change, approve, allow\n")
    with pytest.raises(PolicyError):
        store.reload()
    assert store.allowed(["ops_manager"], "change", "approve")
    assert not store.allowed(["product_manager"], "change", "approve")
