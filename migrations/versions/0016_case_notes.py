"""Notes and attachments on any case; what cites an attachment; the database's own guards.

- `case_note`: append-only plain text (the app role may only insert: core/schema.py),
  numbered per case (N-1, N-2…), searchable through a generated `tsvector` (simple
  configuration: no stemming, any language), a correction names the note it corrects.
- `case_attachment`: one row per file, numbered per case (F-1…), kept for good (the app role
  cannot delete it). Removing a file marks the row removed (who, when, why) and drops its
  bytes; the trigger refuses that while anything cites the file and refuses any other change.
- `case_attachment_blob`: the bytes when stored in PostgreSQL; deletable only once the
  attachment is marked removed, never updated.
- `case_attachment_citation`: a decision or SAR report that stands on a file. Written by
  triggers, whatever door the decision or report came through: a decision cites the files
  its comment names as `F-<n>` (or lists by id under `details.attachments`); a SAR report
  cites every file on its case when it is filed. A removed file is never cited.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)

GUARDS = r"""
CREATE FUNCTION case_attachment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'attachment % is kept: mark it removed instead', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.removed_at IS NOT NULL THEN
        RAISE EXCEPTION 'attachment % is already removed', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.id, NEW.case_id, NEW.number, NEW.filename, NEW.content_type, NEW.size, NEW.sha256,
        NEW.storage, NEW.storage_key, NEW.uploaded_by, NEW.uploaded_at)
       IS DISTINCT FROM
       (OLD.id, OLD.case_id, OLD.number, OLD.filename, OLD.content_type, OLD.size, OLD.sha256,
        OLD.storage, OLD.storage_key, OLD.uploaded_by, OLD.uploaded_at) THEN
        RAISE EXCEPTION 'an attachment''s file and facts never change (attachment %)', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.removed_at IS NULL OR NEW.removed_by IS NULL
       OR coalesce(btrim(NEW.removal_reason), '') = '' THEN
        RAISE EXCEPTION 'removing attachment % needs who, when and why', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM case_attachment_citation WHERE attachment_id = OLD.id) THEN
        RAISE EXCEPTION 'attachment % is cited by a decision or a SAR: it cannot be removed',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER case_attachment_guard BEFORE UPDATE OR DELETE ON case_attachment
    FOR EACH ROW EXECUTE FUNCTION case_attachment_guard();

CREATE FUNCTION case_attachment_blob_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the bytes of attachment % never change', OLD.attachment_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM case_attachment WHERE id = OLD.attachment_id AND removed_at IS NOT NULL
    ) THEN
        RAISE EXCEPTION 'attachment % is not removed: its bytes are kept', OLD.attachment_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER case_attachment_blob_guard BEFORE UPDATE OR DELETE ON case_attachment_blob
    FOR EACH ROW EXECUTE FUNCTION case_attachment_blob_guard();

-- A removed file is never cited (the row lock orders a citation and a removal that race:
-- whichever commits first wins, and the other sees it).
CREATE FUNCTION case_attachment_citation_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM case_attachment
        WHERE id = NEW.attachment_id AND removed_at IS NULL FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER case_attachment_citation_guard BEFORE INSERT ON case_attachment_citation
    FOR EACH ROW EXECUTE FUNCTION case_attachment_citation_guard();

CREATE FUNCTION cite_attachments_of_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_attachment_citation (attachment_id, cited_by_type, cited_by_id, cited_at)
    SELECT a.id, 'decision', NEW.id, now()
    FROM case_attachment a
    WHERE a.case_id = NEW.case_id AND a.removed_at IS NULL
      AND (
        a.number IN (
            SELECT (m[1])::integer
            FROM regexp_matches(coalesce(NEW.comment, ''), '\mF-([0-9]{1,9})\M', 'g') AS m
        )
        OR a.id::text IN (
            SELECT jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(NEW.details -> 'attachments') = 'array'
                     THEN NEW.details -> 'attachments' ELSE '[]'::jsonb END)
        )
      )
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER cite_attachments_of_decision AFTER INSERT ON decision
    FOR EACH ROW EXECUTE FUNCTION cite_attachments_of_decision();

CREATE FUNCTION cite_attachments_of_sar() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_attachment_citation (attachment_id, cited_by_type, cited_by_id, cited_at)
    SELECT a.id, 'sar', NEW.id, now()
    FROM case_attachment a
    WHERE a.case_id = NEW.case_id AND a.removed_at IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER cite_attachments_of_sar AFTER INSERT ON sar_report
    FOR EACH ROW EXECUTE FUNCTION cite_attachments_of_sar();
"""

DROP_GUARDS = """
DROP TRIGGER IF EXISTS cite_attachments_of_sar ON sar_report;
DROP TRIGGER IF EXISTS cite_attachments_of_decision ON decision;
DROP FUNCTION IF EXISTS cite_attachments_of_sar();
DROP FUNCTION IF EXISTS cite_attachments_of_decision();
"""


def upgrade() -> None:
    op.create_table(
        "case_note",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("corrects_id", sa.Uuid(), sa.ForeignKey("case_note.id"), nullable=True),
        sa.Column("mentions", ARRAY(sa.Uuid()), nullable=False),
        sa.Column(
            "search",
            sa.dialects.postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', body)", persisted=True),
        ),
        sa.UniqueConstraint("case_id", "number", name="uq_case_note_number"),
        sa.CheckConstraint("number > 0", name="ck_case_note_number"),
        sa.CheckConstraint(
            "char_length(btrim(body)) > 0 AND char_length(body) <= 4000", name="ck_case_note_body"
        ),
    )
    op.create_index("ix_case_note_case_id", "case_note", ["case_id"])
    op.create_index("ix_case_note_search", "case_note", ["search"], postgresql_using="gin")
    op.create_table(
        "case_attachment",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage", sa.String(20), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("uploaded_at", TZ, nullable=False),
        sa.Column("removed_at", TZ, nullable=True),
        sa.Column("removed_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("removal_reason", sa.String(500), nullable=True),
        sa.UniqueConstraint("case_id", "number", name="uq_case_attachment_number"),
        sa.CheckConstraint("number > 0 AND size > 0", name="ck_case_attachment_counts"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_case_attachment_sha256"),
        sa.CheckConstraint(
            "storage IN ('database', 'files', 's3')", name="ck_case_attachment_storage"
        ),
    )
    op.create_index("ix_case_attachment_case_id", "case_attachment", ["case_id"])
    op.create_table(
        "case_attachment_blob",
        sa.Column(
            "attachment_id", sa.Uuid(), sa.ForeignKey("case_attachment.id"), primary_key=True
        ),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "case_attachment_citation",
        sa.Column(
            "attachment_id", sa.Uuid(), sa.ForeignKey("case_attachment.id"), primary_key=True
        ),
        sa.Column("cited_by_type", sa.String(20), primary_key=True),
        sa.Column("cited_by_id", sa.Uuid(), primary_key=True),
        sa.Column("cited_at", TZ, nullable=False),
        sa.CheckConstraint(
            "cited_by_type IN ('decision', 'sar')", name="ck_case_attachment_citation_type"
        ),
    )
    op.execute(GUARDS)


def downgrade() -> None:
    op.execute(DROP_GUARDS)
    for table in ("case_attachment_citation", "case_attachment_blob", "case_attachment"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS case_attachment_guard()")
    op.execute("DROP FUNCTION IF EXISTS case_attachment_blob_guard()")
    op.execute("DROP FUNCTION IF EXISTS case_attachment_citation_guard()")
    op.drop_table("case_note")
