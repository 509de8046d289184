"""An AML case's priority from its alerts and its customer's risk.

- `aml_case.priority_score` (0-100) and `aml_case.priority_reasons` (jsonb list of
  {"factor", "points", "text"}): the score `aml.engines.priority` gives the case's alerts
  and customer, stored with its explanation, recomputed each time alerts attach.
- A trigger raises a new AML task's priority to its case's when the case's is above normal
  (high, urgent): the case workflow opens its tasks at its own running priority (normal
  until an SLA breach), the case's priority follows its alerts, and the task a person
  works must carry it. A case at the default normal leaves its tasks as opened (a task
  opened low stays low). It fires before `task_urgency` (triggers of one event run in name
  order), so the stored urgency sees it.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION aml_task_case_priority() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p_case text;
BEGIN
    SELECT c.priority INTO p_case FROM "case" c
    WHERE c.id = NEW.case_id AND c.case_type = 'aml';
    IF p_case IN ('high', 'urgent') AND
       (CASE p_case WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END) >
       (CASE NEW.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END)
    THEN
        NEW.priority := p_case;
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.add_column(
        "aml_case",
        sa.Column("priority_score", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "aml_case",
        sa.Column(
            "priority_reasons",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
    )
    op.create_index("ix_aml_case_priority_score", "aml_case", ["priority_score"])
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER aml_task_case_priority BEFORE INSERT ON task FOR EACH ROW "
        "EXECUTE FUNCTION aml_task_case_priority()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS aml_task_case_priority ON task")
    op.execute("DROP FUNCTION IF EXISTS aml_task_case_priority()")
    op.drop_index("ix_aml_case_priority_score", table_name="aml_case")
    op.drop_column("aml_case", "priority_reasons")
    op.drop_column("aml_case", "priority_score")
