"""The one place Casbin policies are loaded and asked.

One enforcer per process, built at start-up. A reload builds a complete new enforcer and
swaps it in with a single assignment, so a request never sees a half-loaded policy.
"""

from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import casbin

from models.roles import ROLES

log = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).resolve().parent
MODEL_PATH = POLICY_DIR / "model.conf"
POLICY_PATH = POLICY_DIR / "policy.csv"

KNOWN_ROLES = frozenset(ROLES)
EFFECTS = {"allow", "deny"}


class PolicyError(ValueError):
    """A policy file that would grant something it must not (or cannot be read)."""


@dataclass(frozen=True)
class PolicyRule:
    role: str
    obj: str
    act: str
    effect: str


def _has_role(request_roles: str, policy_role: str) -> bool:
    # Exact membership only: an empty or wildcard subject can never match a real role.
    if not policy_role or policy_role not in KNOWN_ROLES:
        return False
    return policy_role in request_roles.split(",")


def read_rules(path: Path) -> list[PolicyRule]:
    rules: list[PolicyRule] = []
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, skipinitialspace=True), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in row]
            if cells[0] != "p" or len(cells) != 5:
                raise PolicyError(
                    f"{path.name}:{lineno}: expected 'p, role, object, action, effect'"
                )
            _, role, obj, act, effect = cells
            if role not in KNOWN_ROLES:
                raise PolicyError(
                    f"{path.name}:{lineno}: subject {role!r} is not a known role "
                    "(empty and wildcard subjects grant nothing and are refused)"
                )
            if not obj or obj == "*" or not act:
                raise PolicyError(f"{path.name}:{lineno}: object and action must be named")
            if effect not in EFFECTS:
                raise PolicyError(f"{path.name}:{lineno}: effect must be allow or deny")
            rules.append(PolicyRule(role, obj, act, effect))
    return rules


# Policy files a package adds on top of policy.csv (a new process's, a test package's own
# lines), read with the same checks at every (re)load: add_policy_file.
_EXTRA_POLICY_FILES: list[Path] = []


def build_enforcer(
    model_path: Path = MODEL_PATH, policy_path: Path = POLICY_PATH
) -> casbin.Enforcer:
    rules = read_rules(policy_path)
    for extra in _EXTRA_POLICY_FILES:
        rules += read_rules(extra)
    enforcer = casbin.Enforcer(str(model_path))
    enforcer.add_function("hasRole", _has_role)
    for rule in rules:
        enforcer.add_policy(rule.role, rule.obj, rule.act, rule.effect)
    return enforcer


class _Loaded:
    """One complete policy and the answers already computed from it (they never go stale:
    a reload replaces the whole object)."""

    def __init__(self, enforcer: casbin.Enforcer):
        self.enforcer = enforcer
        self.answers: dict[tuple[str, str, str], bool] = {}


class PolicyStore:
    MAX_CACHED = 10_000

    def __init__(self, model_path: Path = MODEL_PATH, policy_path: Path = POLICY_PATH):
        self.model_path = model_path
        self.policy_path = policy_path
        self._reload_lock = threading.Lock()
        # Casbin parses its matcher with ast on each evaluation, and CPython 3.11's parser
        # is not safe to run from several threads at once ("AST constructor recursion depth
        # mismatch"): evaluations take turns. The cache makes that cheap.
        self._eval_lock = threading.Lock()
        self._loaded = _Loaded(build_enforcer(model_path, policy_path))
        self.generation = 1

    def reload(self) -> None:
        """Re-read the files; on any error keep serving the previous policy."""
        with self._reload_lock:
            fresh = _Loaded(build_enforcer(self.model_path, self.policy_path))
            self._loaded = fresh  # one reference swap: atomic for every reader
            self.generation += 1
            log.info("policy reloaded (generation %d)", self.generation)

    def allowed(self, roles: Iterable[str], obj: str, act: str) -> bool:
        known = [r for r in roles if r in KNOWN_ROLES]
        if not known or not obj or not act:
            return False
        loaded = self._loaded  # the whole request sees one policy
        key = (",".join(sorted(known)), obj, act)
        answer = loaded.answers.get(key)
        if answer is None:
            with self._eval_lock:
                answer = bool(loaded.enforcer.enforce(*key))
            if len(loaded.answers) < self.MAX_CACHED:
                loaded.answers[key] = answer
        return answer


_store: PolicyStore | None = None
_store_lock = threading.Lock()


def policy_store() -> PolicyStore:
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = PolicyStore()
    return _store


def add_policy_file(path: Path) -> None:
    """Add a package's policy lines (same format and checks as policy.csv) to every policy
    built from now on, and reload the running one: how a new case type's package declares
    who may read and work it without editing policy.csv. A bad file is refused at once."""
    read_rules(path)
    if path not in _EXTRA_POLICY_FILES:
        _EXTRA_POLICY_FILES.append(path)
    if _store is not None:
        _store.reload()


def remove_policy_file(path: Path) -> None:
    """Withdraw lines added by add_policy_file (a test package's, at its teardown)."""
    if path in _EXTRA_POLICY_FILES:
        _EXTRA_POLICY_FILES.remove(path)
        if _store is not None:
            _store.reload()


def allowed(roles: Iterable[str], obj: str, act: str) -> bool:
    return policy_store().allowed(roles, obj, act)
