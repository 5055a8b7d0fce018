"""Each rule is declared once (monitor/vocabulary.RULES), and everything reads that one table:
the rules' findings, `flags raise`, the vocabulary's ids and the texts."""

import pytest

from monitor.clauses import CLAUSES as QUOTED
from monitor.clauses import clauses_of
from monitor.i18n import CATALOG
from monitor.rules import CLAUSES, found
from monitor.vocabulary import RULE_IDS, RULES, Severity


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_is_named_quoted_and_summarised(rule_id: str) -> None:
    spec = RULES[rule_id]
    assert CATALOG[f"rule.{rule_id}"] == {"zh": spec.zh, "en": spec.en}
    assert all(key in CATALOG for key in spec.summaries)
    Severity(spec.severity)
    if spec.clause != "—":  # every clause it rests on is quoted from the measures
        grounds = [part.strip() for part in spec.clause.split(",")]
        assert [c.key for c in clauses_of(spec.clause)] == grounds
        assert all(ground in QUOTED for ground in grounds)


def test_flags_raise_offers_exactly_the_raisable_rules() -> None:
    assert set(CLAUSES) == {spec.id for spec in RULES.values() if spec.raisable}
    assert not any(rule.startswith("data-") for rule in CLAUSES)


def test_a_finding_takes_its_clause_severity_and_topic_from_the_catalogue() -> None:
    finding = found("art12.2-terminated", "status:deregistered", "finding.terminated", {}, {})
    assert (finding.clause, finding.severity, finding.topic.value if finding.topic else None) == (
        "12(2)",
        Severity.REVOCATION,
        "registration",
    )
    with pytest.raises(ValueError, match="does not declare"):
        found("art12.2-terminated", "k", "finding.accident", {}, {})
    with pytest.raises(KeyError):
        found("art12.9-invented", "k", "finding.terminated", {}, {})
