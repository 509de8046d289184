# syntax=docker/dockerfile:1
# The backoffice image: one image, three commands (`backoffice migrate | web | worker`).
#
#   docker build -t backoffice:local .
#
# Stages: `assets` fetches the pinned front-end files with npm ci (package-lock.json; not the
# devDependencies: the OpenID Provider only the tests run),
# `build` installs the package into a virtualenv, `runtime` is that virtualenv on a clean
# python:3.11-slim, running as a non-root user.

# ----------------------------------------------------------------------------- assets
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
    && mkdir -p /vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js /vendor/ \
    && cp node_modules/@picocss/pico/css/pico.min.css /vendor/ \
    && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css /vendor/

# ----------------------------------------------------------------------------- build
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The package only (.dockerignore keeps tests, bench, node_modules and local data out).
COPY pyproject.toml app.py worker.py ./
COPY core ./core
COPY casework ./casework
COPY identity ./identity
COPY audit ./audit
COPY shared ./shared
COPY changes ./changes
COPY configuration ./configuration
COPY customers ./customers
COPY aml ./aml
COPY disputes ./disputes
COPY onboarding ./onboarding
COPY reconciliation ./reconciliation
COPY screening ./screening
COPY demo ./demo
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY web ./web
COPY policies ./policies
COPY migrations ./migrations
RUN pip install --upgrade pip setuptools wheel \
    && pip install .
# The vendored assets are not package data: put them where app.py serves /static from
# (the installed `web` package), as `make assets` does for a checkout.
COPY --from=assets /vendor /tmp/vendor
RUN static="$(python -c 'import pathlib, web; print(pathlib.Path(web.__file__).parent / "static")')" \
    && mkdir -p "$static/vendor" \
    && cp /tmp/vendor/* "$static/vendor/" \
    && test -f "$static/vendor/htmx.min.js"

# ----------------------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/var/lib/backoffice \
    LOG_JSON=true
RUN groupadd --system --gid 10001 backoffice \
    && useradd --system --uid 10001 --gid backoffice --no-create-home \
        --home-dir /var/lib/backoffice --shell /usr/sbin/nologin backoffice \
    && mkdir -p /var/lib/backoffice/audit \
    && chown -R backoffice:backoffice /var/lib/backoffice
COPY --from=build /opt/venv /opt/venv
USER backoffice:backoffice
WORKDIR /var/lib/backoffice
EXPOSE 8000
ENTRYPOINT ["backoffice"]
CMD ["web"]
