"""The measures' status map: a provider's registration status → what it means for Article 12."""

import pytest

from monitor.rules.policy import map_status
from monitor.vocabulary import RegistrationStatus


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("存续（在营、开业、在册）", RegistrationStatus.ACTIVE),
        ("存续(在营、开业、在册)", RegistrationStatus.ACTIVE),
        ("在业", RegistrationStatus.ACTIVE),
        ("迁入", RegistrationStatus.ACTIVE),
        ("迁出", RegistrationStatus.MOVED_OUT),
        ("注销", RegistrationStatus.DEREGISTERED),
        ("吊销，已注销", RegistrationStatus.DEREGISTERED),
        ("吊销，未注销", RegistrationStatus.LICENSE_REVOKED),
        ("吊销", RegistrationStatus.LICENSE_REVOKED),
        ("撤销", RegistrationStatus.CANCELLED),
        ("停业", RegistrationStatus.SUSPENDED),
        ("歇业", RegistrationStatus.SUSPENDED),
        ("清算中", RegistrationStatus.LIQUIDATING),
        ("破产", RegistrationStatus.LIQUIDATING),
        ("待核实", RegistrationStatus.UNKNOWN),
    ],
)
def test_default_status_map(raw: str, status: RegistrationStatus) -> None:
    assert map_status(raw, {}) is status


def test_status_map_overrides() -> None:
    assert map_status("正常", {"正常": RegistrationStatus.ACTIVE}) is RegistrationStatus.ACTIVE
    assert map_status("注销", {"注销": RegistrationStatus.UNKNOWN}) is RegistrationStatus.UNKNOWN
