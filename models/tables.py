"""Every table, imported in one place so `SQLModel.metadata` (and Alembic) sees them all.

Workflow code never imports this module: it imports only `models.workflow_io`.
"""

from models.access_reviews import AccessReview, AccessReviewItem
from models.aml import AccountRestriction, AmlAlert, AmlCase, SarReport, Transaction
from models.aml_backtests import AmlBacktest
from models.audit import AuditCheckpoint, AuditEvent
from models.case_follow_up import CaseSnooze, CaseTag, ManualCase
from models.case_notes import AttachmentCitation, CaseAttachment, CaseAttachmentBlob, CaseNote
from models.cases import Case, Decision, Notification, Task
from models.changes import ChangeRequest
from models.config import ConfigSetting, ConfigSettingVersion
from models.disputes import (
    AccountAdjustment,
    CustomerMessage,
    Dispute,
    DisputeEvidence,
    DisputeStage,
    SandboxMerchantScript,
    SandboxSubmission,
)
from models.inbox_views import InboxView
from models.invitations import StaffPasswordLink
from models.mfa import StaffMfa, StaffMfaRecovery
from models.onboarding import (
    Account,
    ApplicantMessage,
    Application,
    ApplicationDocument,
    ApplicationParty,
    Customer,
    ScreeningResult,
)
from models.process_watch import ProcessEnding
from models.reconciliation import (
    ReconBreak,
    ReconLine,
    ReconMatch,
    ReconMatchLine,
    ReconMatchRecord,
    ReconSource,
    ReconStatement,
    ReconStatementFile,
    ReconWriteOff,
)
from models.screening import WatchlistEntry, WatchlistName, WatchlistVersion
from models.sso import SsoLogin, StaffSsoLink
from models.staff import LoginAttempt, RoleAssignment, StaffSession, StaffUser
from models.tariffs import Fee, FeeVersion, Limit, LimitVersion, TariffPlan

__all__ = [
    "AccessReview",
    "AccessReviewItem",
    "Account",
    "AccountAdjustment",
    "AccountRestriction",
    "AmlAlert",
    "AmlBacktest",
    "AmlCase",
    "ApplicantMessage",
    "Application",
    "ApplicationDocument",
    "ApplicationParty",
    "AttachmentCitation",
    "AuditCheckpoint",
    "AuditEvent",
    "Case",
    "CaseAttachment",
    "CaseAttachmentBlob",
    "CaseNote",
    "CaseSnooze",
    "CaseTag",
    "ChangeRequest",
    "ConfigSetting",
    "ConfigSettingVersion",
    "Customer",
    "CustomerMessage",
    "Decision",
    "Dispute",
    "DisputeEvidence",
    "DisputeStage",
    "Fee",
    "FeeVersion",
    "InboxView",
    "Limit",
    "LimitVersion",
    "LoginAttempt",
    "ManualCase",
    "Notification",
    "ProcessEnding",
    "ReconBreak",
    "ReconLine",
    "ReconMatch",
    "ReconMatchLine",
    "ReconMatchRecord",
    "ReconSource",
    "ReconStatement",
    "ReconStatementFile",
    "ReconWriteOff",
    "RoleAssignment",
    "SandboxMerchantScript",
    "SandboxSubmission",
    "SarReport",
    "ScreeningResult",
    "SsoLogin",
    "StaffMfa",
    "StaffMfaRecovery",
    "StaffPasswordLink",
    "StaffSession",
    "StaffSsoLink",
    "StaffUser",
    "TariffPlan",
    "Task",
    "Transaction",
    "WatchlistEntry",
    "WatchlistName",
    "WatchlistVersion",
]
