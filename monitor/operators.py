"""Who is acting and what they may decide (DESIGN §7).

The acting operator is the OS user, configured as `[operators.<os-user>]` with a
scope: "municipal" (the bureau: every factory) or a list of district codes.
Who that user is comes from the kernel, never from the environment (LOGNAME and
USER are the caller's to set): the daemon reads a client's uid off its socket
(SO_PEERCRED), and a command working on the database directly takes its own
real uid. Only for the account that owns the database (the direct mode's own
user, or a door caller with the daemon's own uid, who could open it directly
anyway), and only where config sets `allow_operator_override = true` (demo,
tests), may SFM_OPERATOR name the operator instead.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.codes import DISTRICTS_BY_CODE
from monitor.config import Settings
from monitor.errors import Refused
from monitor.i18n import Message
from monitor.vocabulary import Level

# Every API call names its operator in the log, and `sfm flags list` without a daemon
# starts without the ORM models (about 0.2 s).
if TYPE_CHECKING:
    from monitor.storage.models import Factory


def user_of(uid: int) -> str:
    """The account name of a uid, as the kernel and the password database know it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without an account is nobody staff could have configured
        return f"uid:{uid}"


def acting_user(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    *,
    peer_uid: int | None = None,
) -> str:
    """The OS user acting: a daemon client's peer uid, else this process's real uid.

    SFM_OPERATOR may name another operator only under `allow_operator_override`, and
    only for the account that owns the database (which could act on it directly
    anyway): this process's own user, or a door caller with the daemon's own uid."""
    if peer_uid is not None and peer_uid != os.getuid():
        return user_of(peer_uid)
    environ = os.environ if environ is None else environ
    override = environ.get("SFM_OPERATOR", "").strip()
    if override:
        if not settings.allow_operator_override:
            raise Refused(Message("operator.override_not_allowed"))
        return override
    return user_of(os.getuid())


@dataclass(frozen=True)
class Operator:
    user: str
    name: str
    scope: str | tuple[str, ...]  # "municipal" or district codes

    @property
    def municipal(self) -> bool:
        return self.scope == "municipal"

    def covers(self, district_code: str) -> bool:
        return self.municipal or district_code in self.scope

    def scope_text(self) -> str:
        if isinstance(self.scope, str):
            return self.scope
        return "、".join(DISTRICTS_BY_CODE[c].name for c in self.scope if c in DISTRICTS_BY_CODE)

    def require_district(self, factory: Factory, districts: Iterable[str] = ()) -> None:
        """Refuse a decision about an enterprise none of whose districts (its designations',
        as routing reads them; else its summary district) is this operator's."""
        held = list(districts) or [factory.district_code]
        if not any(self.covers(code) for code in held):
            names = "、".join(
                DISTRICTS_BY_CODE[code].name if code in DISTRICTS_BY_CODE else code for code in held
            )
            raise Refused(
                Message(
                    "operator.out_of_scope", user=self.user, scope=self.scope_text(), district=names
                )
            )

    def require_municipal(self, what: str) -> None:
        if not self.municipal:
            raise Refused(
                Message(
                    "operator.municipal_only", what=what, user=self.user, scope=self.scope_text()
                )
            )

    def require_revocation_power(self, factory: Factory, districts: Iterable[str] = ()) -> None:
        """Advanced designations are the bureau's; basic ones their district's (or the bureau's)."""
        if factory.level == Level.ADVANCED.value:
            self.require_municipal("先进级认定的撤销")
        self.require_district(factory, districts)

    def require_decision_power(
        self, factory: Factory, severity: str, districts: Iterable[str]
    ) -> None:
        """Deciding a revocation case of an advanced-level enterprise is the bureau's (Article
        4: the bureau designates that level); a district in scope may add a note."""
        advanced_case = factory.level == Level.ADVANCED.value and severity == "revocation"
        if advanced_case and not self.municipal:
            raise Refused(
                Message("operator.bureau_decides", user=self.user, scope=self.scope_text())
            )
        self.require_district(factory, districts)


def current_operator(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    *,
    peer_uid: int | None = None,
) -> Operator:
    user = acting_user(settings, environ, peer_uid=peer_uid)
    configured = settings.operators.get(user)
    if configured is None:
        raise Refused(Message("operator.unknown", user=user))
    scope = configured.scope if isinstance(configured.scope, str) else tuple(configured.scope)
    return Operator(user=user, name=configured.name, scope=scope)
