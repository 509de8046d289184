"""The first-admin bootstrap makes the first two administrators together.

Four-eyes on role grants needs two administrators, and a role change is the only way to
grant a role once an administrator exists: a bootstrap of one admin left a new installation
with nobody to approve the second. The database door now lets the bootstrap grant admin to
at most two people in one transaction, while no other active admin exists
(`backoffice user create NAME --role admin --second-admin NAME2`).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
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
        -- A bootstrap grant is stamped with its transaction's start: the first two
        -- administrators are made together, in one transaction, while no other active
        -- admin exists (four-eyes needs two; a third, or a later one, is proposed).
        NEW.granted_at := transaction_timestamp();
        IF NOT EXISTS (
            SELECT 1 FROM role_assignment r JOIN staff_user s ON s.id = r.user_id
             WHERE r.role = 'admin' AND r.ended_at IS NULL AND s.is_active
               AND NOT (r.source = 'bootstrap' AND r.granted_at = transaction_timestamp())
        ) AND (
            SELECT count(*) FROM role_assignment r
             WHERE r.role = 'admin' AND r.ended_at IS NULL AND r.source = 'bootstrap'
               AND r.granted_at = transaction_timestamp()
        ) < 2 THEN
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

PREVIOUS = r"""
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
    op.execute(DOOR)


def downgrade() -> None:
    op.execute(PREVIOUS)
