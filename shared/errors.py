"""Business refusals. Each carries a code and a sentence a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Unauthenticated(DomainError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    """Permission or segregation-of-duties refusal."""

    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    """The object is not in a state that allows this (already claimed, decided, stale...)."""

    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    """Bad input; `fields` names each bad field and why."""

    status_code = 422
    code = "invalid"


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"


class TooManyAttempts(DomainError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
