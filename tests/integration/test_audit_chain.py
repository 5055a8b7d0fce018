"""The audit's hash chain: tampering under the triggers' back is found by `sfm audit verify`."""

from __future__ import annotations

import json

from sqlalchemy import Engine, text

from monitor.storage.audit_chain import GENESIS, content_hash, head_and_length, seal, verify
from tests.conftest import Cli


def _a_decision(cli: Cli) -> int:
    """A flag raised and confirmed by the bureau's operator: two flag_audit entries."""
    listed = json.loads(cli("factories", "list", "--json").out)
    code = listed[0]["credit_code"]
    raised = cli("flags", "raise", code, "--rule", "art12.1-false-information", "--reason", "核查")
    assert raised.code == 0, raised.err
    [flag] = json.loads(cli("flags", "list", "--json").out)
    assert cli("flags", "confirm", str(flag["id"]), "--reason", "现场核实").code == 0
    return int(flag["id"])


def _behind_the_triggers_back(engine: Engine, *statements: str) -> None:
    """What a database superuser can do: the append-only triggers do not stop it."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("flag_audit", "audit_seal"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for statement in statements:
            connection.execute(text(statement))


def test_every_audit_entry_is_sealed_and_the_chain_verifies(register: Engine, cli: Cli) -> None:
    _a_decision(cli)
    found = verify(register)
    with register.connect() as connection:
        entries = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM flag_audit)"
                " + (SELECT count(*) FROM designation_event)"
            )
        ).scalar_one()
    assert found.intact and found.unsealed == 0
    assert found.length == entries >= 36 and found.head != GENESIS
    said = cli("audit", "verify")
    assert said.code == 0 and f"{entries}" in said.out and found.head in said.out
    # `sfm audit` itself still lists the trail
    assert cli("audit", "--json").code == 0


def test_a_changed_entry_is_found_and_named(register: Engine, cli: Cli) -> None:
    flag_id = _a_decision(cli)
    _behind_the_triggers_back(
        register,
        f"UPDATE flag_audit SET reason = '无需处理' WHERE flag_id = {flag_id}"
        " AND to_state = 'confirmed'",
    )
    with register.connect() as connection:
        entry = connection.execute(
            text(f"SELECT id FROM flag_audit WHERE flag_id = {flag_id} AND to_state = 'confirmed'")
        ).scalar_one()
        before = connection.execute(
            text(
                f"SELECT seq FROM audit_seal WHERE audit_table = 'flag_audit' AND row_id = {entry}"
            )
        ).scalar_one()
    found = verify(register)
    assert not found.intact and f"flag_audit #{entry} " in (found.first_break or "")
    assert "changed" in (found.first_break or "")
    assert found.length == before - 1  # the chain holds up to the entry before it
    said = cli("audit", "verify", "--json")
    assert said.code == 1
    assert json.loads(said.out)["intact"] is False
    assert f"flag_audit #{entry} " in json.loads(said.out)["first_break"]


def test_a_removed_entry_is_found(register: Engine, cli: Cli) -> None:
    flag_id = _a_decision(cli)
    _behind_the_triggers_back(
        register, f"DELETE FROM flag_audit WHERE flag_id = {flag_id} AND to_state = 'open'"
    )
    found = verify(register)
    assert not found.intact and "removed" in (found.first_break or "")


def test_the_operators_name_is_sealed_and_entries_sealed_before_it_existed_still_verify(
    register: Engine, cli: Cli
) -> None:
    flag_id = _a_decision(cli)
    # an entry sealed before the column existed had no actor_name: its content is unchanged
    sealed_before = {"id": 1, "actor": "li", "reason": "核查"}
    assert content_hash("flag_audit", sealed_before) == content_hash(
        "flag_audit", {**sealed_before, "actor_name": None}
    )
    assert verify(register).intact
    _behind_the_triggers_back(
        register,
        f"UPDATE flag_audit SET actor_name = '市经信局 他人' WHERE flag_id = {flag_id} "
        "AND to_state = 'confirmed'",
    )
    assert not verify(register).intact


def test_a_chain_rebuilt_whole_is_found_only_by_the_witness_the_overview_kept(
    register: Engine, cli: Cli
) -> None:
    flag_id = _a_decision(cli)
    witness = head_and_length(register)  # what the weekly overview mailed to the bureau
    assert verify(register, witness=witness).intact
    assert cli("audit", "verify", "--head", witness[0], "--length", str(witness[1])).code == 0
    _behind_the_triggers_back(
        register,
        f"UPDATE flag_audit SET reason = '无需处理' WHERE flag_id = {flag_id}"
        " AND to_state = 'confirmed'",
        "DELETE FROM audit_seal",
    )
    assert seal(register) == witness[1]  # the superuser reseals every entry
    assert verify(register).intact  # the chain holds in itself...
    found = verify(register, witness=witness)
    assert not found.intact and "witness" in (found.first_break or "")
    # ...and staff find it the same way, with the head and length the overview mailed
    head, length = witness
    assert cli("audit", "verify").code == 0
    said = cli("audit", "verify", "--head", head, "--length", str(length))
    assert said.code == 1 and "witness" in said.err
    assert cli("audit", "verify", "--head", head).code == 2  # a head alone is no witness
    # a chain cut short before the witness's place is found too
    _behind_the_triggers_back(register, f"DELETE FROM audit_seal WHERE seq >= {witness[1]}")
    shorter = verify(register, witness=witness)
    assert not shorter.intact and "missing" in (shorter.first_break or "")
