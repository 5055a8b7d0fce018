"""Who must hear of a flag (DESIGN §5).

A basic-level factory's flags go to its district authority; an advanced-level
factory's to the municipal bureau and the district. Revocation-severity flags
and renames always reach the municipal bureau too. A district with no
authority configured falls back to the municipal bureau, with a warning:
never dropped.
"""

from __future__ import annotations

import structlog

from monitor.alerts.authorities import MUNICIPAL, Authorities

log = structlog.get_logger("sfm.alerts.routing")

# Article 12: a renamed or restructured enterprise applies to the bureau, at every level
ALWAYS_MUNICIPAL_RULES = {"art12-rename-pending", "art12-restructure-pending"}


def recipients(
    authorities: Authorities,
    *,
    level: str,
    district_code: str,
    severity: str,
    rule_id: str,
    credit_code: str = "",
) -> list[str]:
    keys: list[str] = []
    if authorities.has_district(district_code):
        keys.append(district_code)
    else:
        log.warning(
            "district has no authority configured; routing to the municipal bureau",
            district=district_code,
            credit_code=credit_code,
        )
        keys.append(MUNICIPAL)
    if (
        level == "advanced" or severity == "revocation" or rule_id in ALWAYS_MUNICIPAL_RULES
    ) and MUNICIPAL not in keys:
        keys.insert(0, MUNICIPAL)
    return keys
