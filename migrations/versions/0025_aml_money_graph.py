"""Our own accounts in the money graph; shadow alerts.

- `transaction.amount_eur` (generated): the amount in EUR at the indicative reference rates
  of `aml.engines.monitoring_data` (frozen here as they were when this ran), so set-based
  rules compare sums across currencies in SQL.
- `transaction.counterparty_key` (generated): who is on the other side, the way
  `counterparty_key()` says it in Python: the account without spaces, upper case, else the
  name with its spaces collapsed, lower case.
- `transaction.counterparty_account_id`: the counterparty resolved to one of *our* accounts
  when it is one, by IBAN or by German bank code + account number (`37040044 1234`,
  `37040044/0000001234`, the 18 digits run together). Set by a trigger on insert (and when
  the counterparty account is corrected), and for earlier transactions when an account with
  that IBAN is opened later. `account.domestic_key` (generated) is the bank code + account
  number key of a German IBAN.
- `aml_money_flow` (view): money moving between our accounts, one row per transfer: the
  sender's out leg, or the receiver's in leg when the sender's out leg is not booked here
  (a transfer booked on both sides counts once).
- `aml_alert.shadow`: an alert of a rule running in shadow: recorded, never routed to a case.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# EUR per unit, frozen from aml.engines.monitoring_data.REFERENCE_RATES_EUR (November 2026).
RATES: dict[str, str] = {
    "EUR": "1", "USD": "0.92", "GBP": "1.17", "CHF": "1.05", "SEK": "0.088", "NOK": "0.086",
    "DKK": "0.134", "PLN": "0.23", "CZK": "0.040", "HUF": "0.0025", "RON": "0.20",
    "BGN": "0.511", "CAD": "0.67", "AUD": "0.60", "NZD": "0.55", "SGD": "0.69",
    "HKD": "0.118", "CNY": "0.127", "INR": "0.011", "MXN": "0.046", "BRL": "0.16",
    "ZAR": "0.051", "TRY": "0.027", "AED": "0.25", "JPY": "0.0061", "KRW": "0.00066",
    "ISK": "0.0066", "CLP": "0.00097", "VND": "0.000036", "BHD": "2.44", "KWD": "2.99",
    "OMR": "2.39", "JOD": "1.30", "TND": "0.29",
}  # fmt: skip

AMOUNT_EUR = (
    "CAST(amount * CASE currency "
    + " ".join(f"WHEN '{c}' THEN {r}" for c, r in RATES.items())
    + " END AS numeric(20, 4))"
)
COUNTERPARTY_KEY = (
    "COALESCE(NULLIF(upper(regexp_replace(counterparty_account, '\\s', '', 'g')), ''), "
    "NULLIF(lower(regexp_replace(btrim(counterparty_name), '\\s+', ' ', 'g')), ''))"
)
DOMESTIC_KEY = (
    "CASE WHEN iban ~ '^DE[0-9]{20}$' "
    "THEN substr(iban, 5, 8) || ':' || COALESCE(NULLIF(ltrim(substr(iban, 13, 10), '0'), ''), '0') "
    "END"
)

RESOLVE = r"""
CREATE FUNCTION transaction_own_counterparty() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    raw text := btrim(COALESCE(NEW.counterparty_account, ''));
    compact text := upper(regexp_replace(raw, '[\s./-]', '', 'g'));
    parts text[];
BEGIN
    NEW.counterparty_account_id := NULL;
    IF compact = '' THEN
        RETURN NEW;
    END IF;
    IF compact ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$' THEN
        SELECT id INTO NEW.counterparty_account_id FROM account WHERE iban = compact;
        RETURN NEW;
    END IF;
    parts := regexp_match(raw, '^([0-9]{8})[\s/:-]+([0-9]{1,10})$');
    IF parts IS NULL AND compact ~ '^[0-9]{18}$' THEN
        parts := ARRAY[substr(compact, 1, 8), substr(compact, 9, 10)];
    END IF;
    IF parts IS NOT NULL THEN
        SELECT id INTO NEW.counterparty_account_id FROM account
         WHERE domestic_key = parts[1] || ':' || COALESCE(NULLIF(ltrim(parts[2], '0'), ''), '0');
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER transaction_own_counterparty
BEFORE INSERT OR UPDATE OF counterparty_account ON transaction
FOR EACH ROW EXECUTE FUNCTION transaction_own_counterparty();

CREATE FUNCTION account_resolves_earlier_transactions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE transaction SET counterparty_account_id = NEW.id
     WHERE counterparty_account_id IS NULL AND counterparty_key = NEW.iban;
    RETURN NULL;
END $$;

CREATE TRIGGER account_resolves_earlier_transactions
AFTER INSERT ON account
FOR EACH ROW EXECUTE FUNCTION account_resolves_earlier_transactions();
"""

MONEY_FLOW = """
CREATE VIEW aml_money_flow AS
SELECT t.id AS transaction_id,
       t.account_id AS from_account_id, t.customer_id AS from_customer_id,
       t.counterparty_account_id AS to_account_id, a.customer_id AS to_customer_id,
       t.booked_at, t.amount, t.currency, t.amount_eur, t.channel
  FROM transaction t JOIN account a ON a.id = t.counterparty_account_id
 WHERE t.direction = 'out' AND t.counterparty_account_id <> t.account_id
UNION ALL
SELECT t.id,
       t.counterparty_account_id, a.customer_id,
       t.account_id, t.customer_id,
       t.booked_at, t.amount, t.currency, t.amount_eur, t.channel
  FROM transaction t JOIN account a ON a.id = t.counterparty_account_id
 WHERE t.direction = 'in' AND t.counterparty_account_id <> t.account_id
   AND NOT EXISTS (
       SELECT 1 FROM transaction o
        WHERE o.account_id = t.counterparty_account_id
          AND o.counterparty_account_id = t.account_id
          AND o.direction = 'out' AND o.amount = t.amount AND o.currency = t.currency
          AND o.booked_at BETWEEN t.booked_at - interval '3 days' AND t.booked_at + interval '3 days')
"""


def upgrade() -> None:
    op.add_column(
        "transaction",
        sa.Column("amount_eur", sa.Numeric(20, 4), sa.Computed(AMOUNT_EUR, persisted=True)),
    )
    op.add_column(
        "transaction",
        sa.Column(
            "counterparty_key", sa.String(200), sa.Computed(COUNTERPARTY_KEY, persisted=True)
        ),
    )
    op.add_column(
        "transaction",
        sa.Column("counterparty_account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=True),
    )
    op.add_column(
        "account",
        sa.Column("domestic_key", sa.String(24), sa.Computed(DOMESTIC_KEY, persisted=True)),
    )
    op.create_index("ix_account_domestic_key", "account", ["domestic_key"])
    op.create_index(
        "ix_transaction_counterparty_account",
        "transaction",
        ["counterparty_account_id", "booked_at"],
        postgresql_where=sa.text("counterparty_account_id IS NOT NULL"),
    )
    op.create_index(
        "ix_transaction_account_counterparty",
        "transaction",
        ["account_id", "counterparty_account_id"],
        postgresql_where=sa.text("counterparty_account_id IS NOT NULL"),
    )
    op.create_index("ix_transaction_counterparty_key", "transaction", ["counterparty_key"])
    op.execute(RESOLVE)
    # Transactions already here: resolve them once (the trigger fires on this UPDATE).
    op.execute(
        "UPDATE transaction SET counterparty_account = counterparty_account "
        "WHERE counterparty_account IS NOT NULL"
    )
    op.execute(MONEY_FLOW)
    op.add_column(
        "aml_alert",
        sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("aml_alert", "shadow")
    op.execute("DROP VIEW aml_money_flow")
    op.execute("DROP TRIGGER account_resolves_earlier_transactions ON account")
    op.execute("DROP FUNCTION account_resolves_earlier_transactions()")
    op.execute("DROP TRIGGER transaction_own_counterparty ON transaction")
    op.execute("DROP FUNCTION transaction_own_counterparty()")
    op.drop_index("ix_transaction_counterparty_key", "transaction")
    op.drop_index("ix_transaction_account_counterparty", "transaction")
    op.drop_index("ix_transaction_counterparty_account", "transaction")
    op.drop_index("ix_account_domestic_key", "account")
    op.drop_column("account", "domestic_key")
    op.drop_column("transaction", "counterparty_account_id")
    op.drop_column("transaction", "counterparty_key")
    op.drop_column("transaction", "amount_eur")
