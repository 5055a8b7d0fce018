"""Who is acting comes from the kernel: the real uid, or a door caller's peer uid."""

from __future__ import annotations

import os
import pwd

import pytest

from monitor.config import Settings
from monitor.errors import Refused
from monitor.operators import acting_user, current_operator, user_of

ME = pwd.getpwuid(os.getuid()).pw_name
OPERATORS = {
    "li": {"name": "李明", "scope": "municipal"},
    ME: {"name": "本机用户", "scope": ["110108"]},
}
STRICT = Settings.model_validate({"operators": OPERATORS})
DEMO = Settings.model_validate({"operators": OPERATORS, "allow_operator_override": True})
FORGED = {"LOGNAME": "li", "USER": "li", "USERNAME": "li"}
OTHER_UID = 65534 if os.getuid() != 65534 else 1


def test_logname_and_user_name_nobody() -> None:
    assert acting_user(STRICT, FORGED) == ME
    assert current_operator(STRICT, FORGED).name == "本机用户"


def test_sfm_operator_needs_the_override_and_then_names_the_operator() -> None:
    with pytest.raises(Refused, match="allow_operator_override"):
        acting_user(STRICT, {"SFM_OPERATOR": "li"})
    assert acting_user(DEMO, {"SFM_OPERATOR": "li"}) == "li"


def test_a_door_caller_is_their_peer_uid_and_cannot_name_another_operator() -> None:
    claimed = {"SFM_OPERATOR": "li", **FORGED}
    assert acting_user(DEMO, claimed, peer_uid=OTHER_UID) == user_of(OTHER_UID)
    with pytest.raises(Refused, match=user_of(OTHER_UID)):
        current_operator(DEMO, claimed, peer_uid=OTHER_UID)
    # the daemon's own account owns the database: under the override it may, as directly
    assert acting_user(DEMO, claimed, peer_uid=os.getuid()) == "li"
    assert acting_user(STRICT, {}, peer_uid=os.getuid()) == ME


def test_a_uid_without_an_account_is_named_by_number() -> None:
    assert user_of(4_000_000_007) == "uid:4000000007"
