#!/bin/sh
# One-shot (temporalio/admin-tools): create or upgrade the schema of Temporal's two
# databases. Safe to run on every `docker compose up`: setup-schema keeps an existing
# version and update-schema applies only what is missing.
#
# The databases themselves are created by deploy/postgres/init (the `temporal` role may
# not create databases), so `temporal-sql-tool create` is not called here.
# The password comes from SQL_PASSWORD in the environment, never the command line.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is not set}"
: "${POSTGRES_USER:?POSTGRES_USER is not set}"
: "${SQL_PASSWORD:?SQL_PASSWORD is not set}"
PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}"
tries=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
    tries=$((tries + 1))
    [ "$tries" -ge 30 ] && { echo "PostgreSQL did not answer" >&2; exit 1; }
    sleep 2
done

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
    db="${pair%%:*}"
    kind="${pair##*:}"
    echo "schema of ${db} (${kind})"
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" \
        -u "$POSTGRES_USER" --db "$db" setup-schema -v 0.0
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" \
        -u "$POSTGRES_USER" --db "$db" update-schema -d "${SCHEMA_DIR}/${kind}/versioned"
done
echo "Temporal schema is up to date"
