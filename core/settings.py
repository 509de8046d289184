"""One settings object for every process; embedded defaults when the environment says nothing."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.codec import parse_key_list

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}


class Settings(BaseSettings):
    # Errors never echo the input: it holds keys and passwords (TEMPORAL_CODEC_KEYS, URLs).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    environment: str = Field(default="development", description="development | test | production")
    data_dir: Path = Path(".data")

    # PostgreSQL. Empty means: start the embedded server under DATA_DIR/postgres.
    database_url: str = ""
    # Owner connection used by `migrate`; defaults to DATABASE_URL when that is set.
    database_admin_url: str = ""
    app_db_role: str = "backoffice_app"
    db_pool_size: int = 10
    # Worker processes for CPU-heavy work (reading statement files, screening names;
    # core/cpu_pool.py). 0: the cores but one, at least 2, at most 4.
    cpu_workers: int = Field(default=0, ge=0)

    # Temporal. Empty means: start the embedded dev server on TEMPORAL_PORT.
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_ui_url: str = ""
    task_queue: str = "backoffice"
    # Temporal payload encryption (core/codec.py): `id:base64,id:base64` (32-byte AES keys,
    # the first encrypts, all decrypt), or a file of `id base64` lines. Neither: development
    # makes DATA_DIR/temporal-codec.keys (0600); production refuses to start.
    temporal_codec_keys: str = Field(default="", repr=False)
    temporal_codec_key_file: str = ""
    # Second-factor secrets (identity/mfa.py) are stored encrypted: MFA_KEYS `id:base64,…`
    # (32-byte AES keys, the first encrypts); none: development makes DATA_DIR/mfa.keys,
    # production refuses to store one. MFA_ISSUER names us in the authenticator app.
    mfa_keys: str = Field(default="", repr=False)
    mfa_issuer: str = "Backoffice"
    # Origin of a Temporal UI served elsewhere that may call the codec endpoint (CORS).
    temporal_ui_origin: str = ""
    # TLS to Temporal's frontend (core/temporal.py): PEM file paths. TEMPORAL_TLS_CA is the
    # CA the server's certificate is checked against (empty: the system's roots);
    # TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY the client certificate presented (mTLS);
    # TEMPORAL_TLS_SERVER_NAME the name the server's certificate must hold (default: the
    # host of TEMPORAL_ADDRESS). Any of them, or TEMPORAL_TLS=true, turns TLS on.
    temporal_tls: bool = False
    temporal_tls_ca: str = ""
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_tls_server_name: str = ""

    web_host: str = "127.0.0.1"
    # Proxies whose X-Forwarded-For is believed: comma-separated addresses or networks of
    # the load balancer(s) in front of the app (web/proxies.py). Empty (the default): the
    # header is ignored, even from loopback. The client address feeds login throttling and
    # the audit log. FORWARDED_ALLOW_IPS, its former name, is still read.
    trusted_proxies: str = Field(
        default="", validation_alias=AliasChoices("trusted_proxies", "forwarded_allow_ips")
    )
    web_port: int = 8000
    public_url: str = ""

    # Sessions and login.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    api_token_minutes: int = 60
    login_max_failures: int = 5
    login_failure_window_minutes: int = 15
    login_lockout_minutes: int = 15
    login_max_failures_per_ip: int = 30
    secure_cookies: bool = False

    # Single sign-on with OpenID Connect (identity/sso.py, authorization code + PKCE). Set
    # OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together to show "Sign in with
    # <OIDC_DISPLAY_NAME>" on /login; the IdP must allow the redirect URI
    # <PUBLIC_URL>/auth/oidc/callback. OIDC_GROUPS_CLAIM names the ID-token claim holding the
    # person's groups (mapped to roles by the `sso_groups` document, itself maker-checker).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(default="", repr=False)
    oidc_display_name: str = "single sign-on"
    oidc_groups_claim: str = "groups"
    oidc_scopes: str = "openid email profile"
    # LOCAL_PASSWORDS=false: the password form and the password token endpoint refuse (staff
    # sign in through the IdP only); needs single sign-on configured.
    local_passwords: bool = True

    # Maker-checker.
    change_expiry_hours: int = 72
    change_approval_sla_hours: int = 24
    # Quality review (casework/quality.py): the share of bulk-closed AML cases (in %, rounded
    # up) a second analyst reviews, and the review's SLA.
    qa_sample_percent: int = Field(default=10, ge=0, le=100)
    qa_review_sla_hours: int = 72
    limit_raise_elevated_ratio: str = "0.5"

    # Onboarding document checks: "builtin" (checks what the applicant submitted) or a
    # vendor adapter as "package.module:ClassName" (see onboarding/engines/documents.py).
    document_check_provider: str = "builtin"

    # Onboarding: how often every customer is screened again against the current list.
    rescreen_interval_hours: int = 24

    # How often a Temporal Schedule looks for case workflows ended outside backoffice
    # (terminated, cancelled or reset from the Temporal CLI or UI).
    process_watch_interval_minutes: int = Field(default=5, ge=1, le=24 * 60)

    # Disputes: the card processor chargebacks are filed with: "sandbox" (built in, kept in
    # the database) or a real processor's adapter as "package.module:ClassName"
    # (see disputes/engines/processor.py).
    card_processor: str = "sandbox"

    # E-mail to customers (dispute acknowledgements, credits, outcomes). Without a host,
    # messages wait in the customer outbox with their status.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "backoffice@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False

    # Case attachments (casework/attachments.py): where their bytes live ("database": a
    # bytea table in PostgreSQL, the default; "files": under ATTACHMENTS_DIR, by default
    # DATA_DIR/attachments), the largest file taken, and the extensions accepted (each one
    # checked against the file's first bytes where the type has a signature).
    attachment_storage: str = Field(default="database", pattern="^(database|files)$")
    attachments_dir: str = ""
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=512 * 1024 * 1024)
    attachment_types: str = "pdf,png,jpg,jpeg,txt,csv"

    audit_checkpoint_file: str = ""
    # `backoffice audit verify` (which writes the checkpoint) is expected to run daily (a
    # cron job or timer); /status calls the checkpoint degraded once it is older than this.
    audit_checkpoint_max_age_hours: int = Field(default=26, ge=1, le=24 * 366)

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        if value not in {"development", "test", "production"}:
            raise ValueError("ENVIRONMENT must be development, test or production")
        return value

    @model_validator(mode="after")
    def _client_certificate_needs_its_key(self) -> Settings:
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise ValueError(
                "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (the client certificate "
                "and its private key)"
            )
        return self

    @field_validator("temporal_codec_keys")
    @classmethod
    def _codec_keys_parse(cls, value: str) -> str:
        """A malformed key list stops every process at start, with the reason."""
        if value.strip():
            parse_key_list(value)  # CodecKeyError is a ValueError: reported by pydantic
        return value

    @property
    def temporal_tls_enabled(self) -> bool:
        return self.temporal_tls or any(
            (self.temporal_tls_ca, self.temporal_tls_cert, self.temporal_tls_server_name)
        )

    @model_validator(mode="after")
    def _single_sign_on_is_whole(self) -> Settings:
        given = [bool(self.oidc_issuer), bool(self.oidc_client_id), bool(self.oidc_client_secret)]
        if any(given) and not all(given):
            raise ValueError(
                "single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together"
            )
        if not self.local_passwords and not self.sso_enabled:
            raise ValueError(
                "LOCAL_PASSWORDS=false needs single sign-on (OIDC_ISSUER, OIDC_CLIENT_ID, "
                "OIDC_CLIENT_SECRET): nobody could sign in otherwise"
            )
        if self.environment == "production" and self.oidc_issuer.startswith("http://"):
            raise ValueError("production needs an https:// OIDC_ISSUER")
        return self

    @property
    def sso_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        if self.environment == "production":
            if not self.database_url or not self.temporal_address:
                raise ValueError(
                    "production needs DATABASE_URL and TEMPORAL_ADDRESS; the embedded "
                    "servers are for development only"
                )
            if not self.secure_cookies:
                raise ValueError(
                    "production needs SECURE_COOKIES=true (the app is served over TLS)"
                )
            if not self.temporal_codec_keys.strip() and not self.temporal_codec_key_file:
                raise ValueError(
                    "production needs TEMPORAL_CODEC_KEYS or TEMPORAL_CODEC_KEY_FILE "
                    "(Temporal payloads are encrypted; no key is generated in production)"
                )
        return self

    @property
    def embedded_postgres(self) -> bool:
        return not self.database_url

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir.resolve() / "postgres"

    @property
    def temporal_db_file(self) -> Path:
        return self.data_dir.resolve() / "temporal.db"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_base(self) -> str:
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    @property
    def attachments_path(self) -> Path:
        if self.attachments_dir:
            return Path(self.attachments_dir)
        return self.data_dir.resolve() / "attachments"

    @property
    def audit_checkpoint_path(self) -> Path:
        if self.audit_checkpoint_file:
            return Path(self.audit_checkpoint_file)
        return self.data_dir.resolve() / "audit-checkpoint.json"


@functools.cache
def get_settings() -> Settings:
    return Settings()
