"""The one registry of case types and task kinds: every process declares its own there."""

from __future__ import annotations

import uuid

import pytest

from casework import catalog, registry
from casework.registry import CaseType, RegistryError, TaskKind


def test_every_process_kind_is_declared_once_with_its_label_and_roles() -> None:
    names = [k.kind for k in catalog.kinds()]
    assert len(names) == len(set(names))
    assert catalog.KIND_LABELS["aml_l1_review"] == "AML alert triage (L1)"
    assert catalog.kind("config_approval").roles == ("risk_manager", "mlro")
    assert catalog.kind("change_approval").permissions == (
        ("task", "work"),
        ("change", "approve"),
    )
    assert catalog.kind("aml_l1_review").permissions == (("task", "work"),)


def test_every_case_type_names_its_prefix_workflow_and_read_permission() -> None:
    for entry in catalog.case_types():
        assert entry.prefix.isupper() and entry.workflow_type
        assert entry.read_permission == (f"case:{entry.name}", "read")
    assert catalog.case_type("dispute").reference(42) == "DSP-42"


def test_a_kinds_task_spec_follows_from_the_workflow_and_key() -> None:
    maker = uuid.uuid4()
    spec = catalog.kind("recon_write_off").spec(
        "wf-1", "checker#1", "REC-7", excluded=[maker, maker]
    )
    again = catalog.kind("recon_write_off").spec("wf-1", "checker#1", "REC-7")
    assert spec.task_id == again.task_id == registry.task_id_for("wf-1", "checker#1")
    assert spec.title == "Approve write-off REC-7"
    assert spec.excluded_actors == [maker]
    assert spec.allowed_outcomes == ["approve", "reject"]


def test_a_task_may_narrow_its_kinds_roles_but_not_widen_them() -> None:
    step = catalog.kind("config_approval")
    assert step.spec("wf", "approve", "CHG-1", role="mlro").candidate_role == "mlro"
    with pytest.raises(RegistryError):
        step.spec("wf", "approve", "CHG-1", role="ops_manager")


def test_a_name_declared_twice_differently_is_refused_and_the_same_declaration_is_not() -> None:
    name = f"test_kind_{uuid.uuid4().hex[:6]}"
    entry = TaskKind(name, "ops_manager", "Test", ("approve",))
    registry.register(entry)
    registry.register(TaskKind(name, "ops_manager", "Test", ("approve",)))  # a re-import
    with pytest.raises(RegistryError):
        registry.register(TaskKind(name, "ops_manager", "Other", ("approve",)))
    # Declared later, still seen by the live label view the inbox reads.
    assert catalog.KIND_LABELS[name] == "Test"
    case_name = f"test_case_{uuid.uuid4().hex[:6]}"
    registry.register(CaseType(case_name, "TST", "Test case", "TestWorkflow"))
    with pytest.raises(RegistryError):
        registry.register(CaseType(case_name, "TSX", "Test case", "TestWorkflow"))
    with pytest.raises(RegistryError):
        registry.kind("no_such_kind")
