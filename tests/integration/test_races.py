"""Decisions racing each other and the sweep, on SQLite and PostgreSQL: one wins, audited once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.clock import now_utc
from monitor.decisions import decide
from monitor.errors import Refused
from monitor.flags.book import FlagBook, ReconcileTally, reconcile
from monitor.rules.endings import Ending
from monitor.storage.models import Factory, Flag, FlagAudit
from monitor.vocabulary import FlagState
from tests.integration.test_flags import BUREAU, one, swept  # noqa: F401  (fixture)

DECISIONS = (FlagState.CONFIRMED, FlagState.DISMISSED)


def audit_of(engine: Engine, flag_id: int) -> list[FlagAudit]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(FlagAudit).where(col(FlagAudit.flag_id) == flag_id).order_by(FlagAudit.id)
            )
        )


def race(engine: Engine, flag_id: int) -> dict[str, str]:
    """Confirm and dismiss one flag from two threads released at the same moment."""
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(DECISIONS))

    def decide_as(to_state: FlagState) -> None:
        barrier.wait()
        try:
            decide(engine, flag_id, to_state, operator=BUREAU, reason=f"决定{to_state.value}")
            outcomes[to_state.value] = "won"
        except Refused as refusal:
            outcomes[to_state.value] = str(refusal)

    threads = [threading.Thread(target=decide_as, args=(state,)) for state in DECISIONS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_operators_deciding_one_flag_at_once_one_wins_and_the_audit_agrees(
    swept: Engine,  # noqa: F811
) -> None:
    flag_ids = [f.id or 0 for f in [one(swept, "art12.5-penalty", "燕化")]]
    flag_ids.append(one(swept, "art12.5-penalty", "门头沟").id or 0)
    for flag_id in flag_ids:
        outcomes = race(swept, flag_id)
        winners = [state for state, outcome in outcomes.items() if outcome == "won"]
        assert len(winners) == 1, outcomes
        [loser] = [outcome for outcome in outcomes.values() if outcome != "won"]
        assert "已变为" in loser or "当前状态" in loser  # says what the flag is now
        with Session(swept) as session:
            flag = session.get(Flag, flag_id)
            assert flag is not None
            assert flag.state == winners[0]
        staff = [row for row in audit_of(swept, flag_id) if row.actor == BUREAU.user]
        assert [(row.from_state, row.to_state) for row in staff] == [("open", winners[0])]


def test_a_loser_is_told_what_the_flag_became(swept: Engine) -> None:  # noqa: F811
    flag = one(swept, "art12.5-penalty", "燕化")
    with Session(swept) as session:
        stale = session.get(Flag, flag.id)
        assert stale is not None
    decide(swept, flag.id or 0, FlagState.DISMISSED, operator=BUREAU, reason="已核实")
    # the second decision was read while the flag was open, and lands after the first
    from monitor.flags.book import transition

    with Session(swept) as session:
        session.add(stale)
        with pytest.raises(Refused, match=r"已变为已排除|became dismissed") as refusal:
            transition(session, stale, FlagState.CONFIRMED, actor="wang", reason="x")
        assert refusal.value.exit_code == 3
        session.rollback()
    assert one(swept, "art12.5-penalty", "燕化").state == "dismissed"
    assert [row.to_state for row in audit_of(swept, flag.id or 0)] == ["open", "dismissed"]


def test_the_sweep_clears_only_flags_still_open_when_it_commits(
    swept: Engine,  # noqa: F811
    simulator: RunningSimulator,
) -> None:
    flag = one(swept, "art12.5-penalty", "燕化")
    with Session(swept) as session:
        factory = session.get(Factory, flag.factory_id)
        assert factory is not None
        book = FlagBook(session, [factory.id or 0], outbox=None)
        # while the sweep evaluates (its book already read the flag as open) staff confirm it
        decide(swept, flag.id or 0, FlagState.CONFIRMED, operator=BUREAU, reason="属实")
        tally = ReconcileTally()
        reconcile(
            book,
            factory,
            [],
            {"credit", "registration", "safety"},
            tally,
            now_utc(),
            lambda _flag: Ending("ended.penalty_lifted", {"removed_on": "2026-12-01"}),
        )
        assert flag.id in book.cleared  # the stale read would clear it ...
        book.write(now_utc() + timedelta(seconds=1))
        session.commit()
    # ... but the write is conditional: the confirmation stands and the audit has no "cleared"
    assert one(swept, "art12.5-penalty", "燕化").state == "confirmed"
    assert [row.to_state for row in audit_of(swept, flag.id or 0)] == ["open", "confirmed"]
