"""Staff identity: users, role grants, server-side sessions, login attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, utcnow, uuid_pk

ROLES: tuple[str, ...] = (
    "support",
    "kyc_analyst",
    "kyc_senior",
    "aml_analyst",
    "aml_investigator",
    "mlro",
    "disputes_agent",
    "finance_ops",
    "product_manager",
    "ops_manager",
    "risk_manager",
    "auditor",
    "admin",
    "engineer",
    # A non-human account for upstream systems (core banking, sign-up) calling the API.
    "upstream_system",
    # Team leads (casework/teams.py): assign their team's tasks, see its workload.
    "aml_lead",
    "kyc_lead",
    "disputes_lead",
    "finance_lead",
)

ROLE_LABELS: dict[str, str] = {
    "upstream_system": "Upstream system (service account)",
    "support": "Support agent",
    "kyc_analyst": "KYC analyst",
    "kyc_senior": "KYC senior reviewer",
    "aml_analyst": "AML analyst (L1)",
    "aml_investigator": "AML investigator (L2)",
    "mlro": "MLRO",
    "disputes_agent": "Disputes agent",
    "finance_ops": "Finance operations",
    "product_manager": "Product manager (maker)",
    "ops_manager": "Operations manager (checker)",
    "risk_manager": "Risk manager",
    "auditor": "Auditor (read-only)",
    "admin": "Administrator",
    "engineer": "Engineer (read-only ops)",
    "aml_lead": "AML team lead",
    "kyc_lead": "KYC team lead",
    "disputes_lead": "Disputes team lead",
    "finance_lead": "Finance operations lead",
}


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = tz_now()
    disabled_at: datetime | None = tz(nullable=True)
    password_changed_at: datetime = tz_now()
    # Notifications created after this are unread (set by "mark all as read").
    notifications_seen_at: datetime | None = tz(nullable=True)


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "role", name="uq_role_assignment_user_role"),)

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    role: str = Field(max_length=40)
    granted_at: datetime = tz_now()
    granted_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")


class StaffSession(SQLModel, table=True):
    """A server-side session (browser) or API token; the client holds only a random secret."""

    __tablename__ = "staff_session"

    id: uuid.UUID = uuid_pk()
    token_hash: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(default="web", max_length=8)  # web | api
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = tz_now()
    last_seen_at: datetime = tz_now()
    expires_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    revoked_at: datetime | None = tz(nullable=True)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, index=True)
    ip: str | None = Field(default=None, max_length=64, index=True)
    succeeded: bool
    attempted_at: datetime = tz_now()


class StaffPublic(SQLModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]
    is_active: bool
