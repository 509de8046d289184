"""Refused statements keep nothing and block nothing: the same bytes may be uploaded again
once a statement of them was refused (the file's SHA-256 is unique among the statements
not refused), and the lines refused statements still held are removed.

recon_line stays append-only for the application's role (lines are evidence); the one
deletion it may make goes through recon_discard_refused_lines, which removes the lines of
a statement already marked refused and nothing else.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


DISCARD_FUNCTION = """
CREATE FUNCTION recon_discard_refused_lines(p_statement uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    discarded integer;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM recon_statement WHERE id = p_statement AND status = 'refused'
    ) THEN
        RAISE EXCEPTION 'statement % is not refused: its lines are kept', p_statement
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM recon_line WHERE statement_id = p_statement;
    GET DIAGNOSTICS discarded = ROW_COUNT;
    RETURN discarded;
END
$$
"""


def upgrade() -> None:
    op.drop_constraint("recon_statement_sha256_key", "recon_statement", type_="unique")
    op.execute(
        "CREATE UNIQUE INDEX uq_recon_statement_sha256 ON recon_statement (sha256) "
        "WHERE status <> 'refused'"
    )
    # Lookups of every upload of a file, refused ones included (the statement pages).
    op.create_index("ix_recon_statement_sha256", "recon_statement", ["sha256"])
    op.execute(DISCARD_FUNCTION)
    op.execute(
        "DELETE FROM recon_line WHERE statement_id IN "
        "(SELECT id FROM recon_statement WHERE status = 'refused')"
    )
    op.execute(
        "UPDATE recon_statement SET lines_read = 0, lines_total = 0 WHERE status = 'refused'"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION recon_discard_refused_lines(uuid)")
    # Fails when a file was uploaded again after a refusal: those uploads must go first.
    op.drop_index("ix_recon_statement_sha256", table_name="recon_statement")
    op.execute("DROP INDEX uq_recon_statement_sha256")
    op.create_unique_constraint("recon_statement_sha256_key", "recon_statement", ["sha256"])
