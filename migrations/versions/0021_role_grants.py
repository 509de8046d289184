"""Role grants under four-eyes: grants are kept when they end, and the database itself refuses
a grant nobody approved.

`role_assignment` gains where a grant came from (`source`: provisioned by the owner, the
`bootstrap` of the first admin, an approved `change`, or single sign-on `sso`), the change
behind it (`change_id`), when it expires (`expires_at`), and when, why and by whom it ended
(`ended_at`, `ended_reason`, `ended_by`). Ended grants are never deleted: the person + role
pair is unique only among active grants.

The trigger `role_assignment_door` holds for every database role but the table's owner
(migrations, test fixtures, the demo seed's provisioning):
- INSERT only when backed by
  * an applied `role_grant` change for that person whose `after.add` names the role, every
    approval task of its case approved, and no decision by the maker or the grantee; or
  * the bootstrap of the first admin (role admin, source bootstrap) while no active admin
    exists (serialised by an advisory lock); or
  * single sign-on (source sso): `change_id` is the applied change that wrote the version of
    the `sso_groups` document in force, and its mapping names the role;
- UPDATE only to end an active grant (ended_at and ended_reason set, nothing else changed);
- DELETE never (the app role also loses DELETE and TRUNCATE: core/schema.py KEPT_TABLES).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOOR = r"""
CREATE OR REPLACE FUNCTION role_assignment_door() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    table_owner name;
BEGIN
    SELECT pg_get_userbyid(relowner) INTO table_owner FROM pg_class WHERE oid = TG_RELID;
    IF pg_has_role(current_user, table_owner, 'MEMBER') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;

    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'role grants are never deleted; end the grant instead'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    IF TG_OP = 'UPDATE' THEN
        IF OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
           AND coalesce(btrim(NEW.ended_reason), '') <> ''
           AND (NEW.id, NEW.user_id, NEW.role, NEW.granted_at, NEW.granted_by, NEW.change_id,
                NEW.expires_at, NEW.source)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.user_id, OLD.role, OLD.granted_at, OLD.granted_by, OLD.change_id,
                OLD.expires_at, OLD.source) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'a role grant can only be ended (with a reason), never revived or changed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- INSERT
    IF NEW.ended_at IS NULL AND NEW.source = 'change' AND EXISTS (
        SELECT 1 FROM change_request c
         WHERE c.id = NEW.change_id
           AND c.target_type = 'role_grant'
           AND c.target_id = NEW.user_id
           AND c.status = 'applied'
           AND coalesce(c.after -> 'add', '[]'::jsonb) ? NEW.role
           AND NEW.expires_at IS NOT DISTINCT FROM (c.after ->> 'ends_at')::timestamptz
           AND EXISTS (SELECT 1 FROM task t WHERE t.case_id = c.case_id)
           AND NOT EXISTS (
                SELECT 1 FROM task t
                 WHERE t.case_id = c.case_id
                   AND (t.status <> 'done' OR t.outcome IS DISTINCT FROM 'approve'))
           AND NOT EXISTS (
                SELECT 1 FROM decision d
                 WHERE d.case_id = c.case_id AND d.actor_id IN (c.maker_id, NEW.user_id))
    ) THEN
        RETURN NEW;
    END IF;

    IF NEW.ended_at IS NULL AND NEW.source = 'bootstrap' AND NEW.role = 'admin'
       AND NEW.change_id IS NULL AND NEW.expires_at IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('role_assignment.bootstrap'));
        IF NOT EXISTS (
            SELECT 1 FROM role_assignment r JOIN staff_user s ON s.id = r.user_id
             WHERE r.role = 'admin' AND r.ended_at IS NULL AND s.is_active
        ) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'an active admin exists: the first-admin bootstrap is closed; propose the role instead'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    IF NEW.ended_at IS NULL AND NEW.source = 'sso' AND NEW.expires_at IS NULL AND EXISTS (
        SELECT 1 FROM config_setting s
          JOIN config_setting_version v ON v.setting_id = s.id AND v.version = s.current_version
          JOIN change_request c ON c.id = v.change_id
         WHERE s.key = 'sso_groups'
           AND c.id = NEW.change_id
           AND c.target_type = 'config'
           AND c.target_id = s.id
           AND c.status = 'applied'
           AND EXISTS (
                SELECT 1
                  FROM regexp_split_to_table(coalesce(v.values ->> 'group_roles', ''), '[;\n]')
                       AS part
                 WHERE NEW.role = ANY (
                       regexp_split_to_array(btrim(split_part(part, ':', 2)), '[\s,]+')))
    ) THEN
        RETURN NEW;
    END IF;

    RAISE EXCEPTION 'role grant refused: no approved role change, first-admin bootstrap or single sign-on mapping gives % to %',
        NEW.role, NEW.user_id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def upgrade() -> None:
    op.add_column(
        "role_assignment",
        sa.Column("source", sa.String(length=20), nullable=False, server_default="provisioned"),
    )
    op.add_column(
        "role_assignment",
        sa.Column("change_id", sa.Uuid(), sa.ForeignKey("change_request.id"), nullable=True),
    )
    op.add_column(
        "role_assignment", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "role_assignment", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "role_assignment", sa.Column("ended_reason", sa.String(length=300), nullable=True)
    )
    op.add_column(
        "role_assignment",
        sa.Column("ended_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
    )
    op.create_check_constraint(
        "ck_role_assignment_source",
        "role_assignment",
        "source IN ('provisioned', 'bootstrap', 'change', 'sso')",
    )
    op.drop_constraint("uq_role_assignment_user_role", "role_assignment", type_="unique")
    op.create_index(
        "uq_role_assignment_active",
        "role_assignment",
        ["user_id", "role"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_role_assignment_change", "role_assignment", ["change_id"])
    op.execute(DOOR)
    op.execute(
        "CREATE TRIGGER role_assignment_door BEFORE INSERT OR UPDATE OR DELETE "
        "ON role_assignment FOR EACH ROW EXECUTE FUNCTION role_assignment_door()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS role_assignment_door ON role_assignment")
    op.execute("DROP FUNCTION IF EXISTS role_assignment_door()")
    op.drop_index("ix_role_assignment_change", table_name="role_assignment")
    op.drop_index("uq_role_assignment_active", table_name="role_assignment")
    op.execute("DELETE FROM role_assignment WHERE ended_at IS NOT NULL")
    op.create_unique_constraint(
        "uq_role_assignment_user_role", "role_assignment", ["user_id", "role"]
    )
    op.drop_constraint("ck_role_assignment_source", "role_assignment", type_="check")
    for column in ("ended_by", "ended_reason", "ended_at", "expires_at", "change_id", "source"):
        op.drop_column("role_assignment", column)
