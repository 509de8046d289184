"""Every table, imported in one place so `SQLModel.metadata` (and Alembic) sees them all.

Workflow code never imports this module: it imports only `models.workflow_io`.
"""

from models.audit import AuditCheckpoint, AuditEvent
from models.cases import Case, Decision, Notification, Task
from models.changes import ChangeRequest
from models.staff import LoginAttempt, RoleAssignment, StaffSession, StaffUser
from models.tariffs import Fee, FeeVersion, Limit, LimitVersion, TariffPlan

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "Case",
    "ChangeRequest",
    "Decision",
    "Fee",
    "FeeVersion",
    "Limit",
    "LimitVersion",
    "LoginAttempt",
    "Notification",
    "RoleAssignment",
    "StaffSession",
    "StaffUser",
    "TariffPlan",
    "Task",
]
