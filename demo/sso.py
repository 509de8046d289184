"""Demo single-sign-on group mapping: the `sso_groups` document changed through maker-checker
(risk.rita proposes, risk.raj approves), so pointing the demo at an identity provider
(OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET) lets people of these groups in. No group
gives admin: that role comes only from a role change two administrators agree on."""

from __future__ import annotations

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.settings import Settings
from demo.config import approved_config_change, config_document
from models.changes import ChangeRequest

DEMO_GROUP_ROLES = (
    "backoffice-support: support; backoffice-kyc: kyc_analyst; "
    "backoffice-aml: aml_analyst; backoffice-disputes: disputes_agent; "
    "backoffice-finance: finance_ops; backoffice-ops-managers: ops_manager; "
    "backoffice-auditors: auditor"
)


async def seed_sso_mapping(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    mapping_id, _ = await config_document(db, "sso_groups")
    async with db.session() as session:
        seeded = (
            await session.exec(
                select(ChangeRequest.id).where(col(ChangeRequest.target_id) == mapping_id)
            )
        ).first()
    if seeded:
        return {"single sign-on group mappings": 0}
    await approved_config_change(
        db,
        temporal,
        settings,
        mapping_id,
        {"group_roles": DEMO_GROUP_ROLES},
        reason="Single sign-on pilot: the identity provider's team groups give their roles.",
        comment="Groups match the team lists HR signed off; no admin group.",
    )
    return {"single sign-on group mappings": 1}
