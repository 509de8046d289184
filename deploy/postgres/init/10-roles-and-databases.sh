#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates three login roles, each with one job:
#
#   backoffice_owner  owns the `backoffice` database; only `backoffice migrate` uses it
#   backoffice_app    what web and worker connect as: no DDL, and `migrate` grants it
#                     only SELECT/INSERT/UPDATE/DELETE (append-only tables: INSERT only)
#   temporal          owns the `temporal` and `temporal_visibility` databases
#
# None of them is a superuser or may create databases or roles. Passwords come from the
# environment (docker-compose.yml passes them from .env); nothing secret is in this file.
# Changing a password later: ALTER ROLE ... PASSWORD, then update .env (this script does
# not run again on an existing volume).
set -eu

: "${BACKOFFICE_OWNER_PASSWORD:?BACKOFFICE_OWNER_PASSWORD is not set}"
: "${BACKOFFICE_APP_PASSWORD:?BACKOFFICE_APP_PASSWORD is not set}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname postgres \
    -v db="${BACKOFFICE_DB:-backoffice}" \
    -v owner="${BACKOFFICE_DB_OWNER:-backoffice_owner}" \
    -v owner_pw="$BACKOFFICE_OWNER_PASSWORD" \
    -v app="${APP_DB_ROLE:-backoffice_app}" \
    -v app_pw="$BACKOFFICE_APP_PASSWORD" \
    -v temporal="${TEMPORAL_DB_USER:-temporal}" \
    -v temporal_pw="$TEMPORAL_DB_PASSWORD" <<'SQL'
-- psql quotes :'x' as a literal and :"x" as an identifier, so passwords need no escaping.
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT;
CREATE ROLE :"temporal" LOGIN PASSWORD :'temporal_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;

CREATE DATABASE :"db" OWNER :"owner";
CREATE DATABASE temporal OWNER :"temporal";
CREATE DATABASE temporal_visibility OWNER :"temporal";

-- Nobody reaches a database that is not theirs. `backoffice migrate` grants CONNECT on
-- the backoffice database (and the table privileges) to the app role.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;

\connect :"db"
-- PostgreSQL 15+ already denies CREATE on `public` to PUBLIC; say it anyway, and make the
-- owner own the schema the migrations write to.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner";
SQL

echo "backoffice: created roles ${BACKOFFICE_DB_OWNER:-backoffice_owner}, ${APP_DB_ROLE:-backoffice_app}, ${TEMPORAL_DB_USER:-temporal} and their databases"
