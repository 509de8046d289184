"""A refused statement's lines may go only while nothing was matched or raised on them.

`recon_discard_refused_lines` (0012) checked the statement's status alone, and the app role
may update `recon_statement`: from the database console it could mark an accepted statement
refused and then discard its lines, the evidence its matches and breaks stand on. A
statement is refused before matching, so a refused one never has a match or a break: the
function now also refuses a statement that has either (both tables are beyond the app's
reach to delete from: `recon_match` is append-only, breaks belong to cases).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FUNCTION = """
CREATE OR REPLACE FUNCTION recon_discard_refused_lines(p_statement uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    discarded integer;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM recon_statement WHERE id = p_statement AND status = 'refused'
    )EXTRA_CHECK THEN
        RAISE EXCEPTION 'statement % is not refused: its lines are kept', p_statement
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM recon_line WHERE statement_id = p_statement;
    GET DIAGNOSTICS discarded = ROW_COUNT;
    RETURN discarded;
END
$$
"""


MATCHED_OR_RAISED = """
    OR EXISTS (SELECT 1 FROM recon_match WHERE statement_id = p_statement)
    OR EXISTS (SELECT 1 FROM recon_break WHERE statement_id = p_statement)"""


def upgrade() -> None:
    op.execute(FUNCTION.replace("EXTRA_CHECK", MATCHED_OR_RAISED))


def downgrade() -> None:
    op.execute(FUNCTION.replace("EXTRA_CHECK", ""))
