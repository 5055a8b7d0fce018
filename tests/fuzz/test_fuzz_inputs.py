"""Hostile input, generated: imports and provider payloads never crash sfm.

Every import either succeeds or is refused with a clear error (exit 2 or 3) that
leaves the register as it was; every provider answer becomes an outcome for that
one factory. `make stress` runs these with many more examples (SFM_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from connectors.http import HttpConnector
from connectors.settings import ConnectorSettings
from monitor.errors import SfmError
from monitor.register.store import import_factories
from monitor.storage import db
from monitor.storage.models import Designation, DesignationEvent, Factory
from tests.conftest import REGISTRAR

EXAMPLES = int(os.environ.get("SFM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HEADERS = [
    ["统一社会信用代码", "企业名称", "级别", "所在区", "认定日期", "注册地址"],
    ["credit_code", "name", "level", "district", "designated_on", "registered_address"],
    ["企业名称", "统一社会信用代码", "credit_code", "所在区", "级别", "认定日期"],  # mixed, doubled
    ["序号", "统一社会信用代码", "企业名称", "级别", "所在区", "认定日期", "文号", "工厂名称"],
]
GOOD = ["91110108600037341L", "北京测试机床有限公司", "基础级", "海淀区", "2025-06-30", ""]
HOSTILE_CELLS = st.one_of(
    st.sampled_from(
        [
            '=HYPERLINK("http://evil.example","点此")',
            "+1+cmd|' /C calc'!A0",
            "@SUM(1)",
            "-2+3",
            "\t=1",
            "<script>alert(1)</script>",
            "x" * 100_000,
            "91110108600037341l",
            "9111010860003734IL",
            "2025年13月40日",
            "先进级\r\n基础级",
            "",
        ]
    ),
    st.text(max_size=40),
)


@pytest.fixture
def register_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("fuzz")
    engine = db.make_engine(f"sqlite:///{folder / 'sfm.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def register_rows(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Factory, Designation, DesignationEvent)
        )


def imports_cleanly_or_changes_nothing(engine: Engine, path: Path) -> None:
    before = register_rows(engine)
    try:
        import_factories(engine, path, operator=REGISTRAR)
    except SfmError as error:
        assert error.exit_code in (2, 3), error
        assert str(error).strip(), "a refusal says why"
        assert register_rows(engine) == before  # a failed import writes no row


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_random_bytes_never_import_half(
    register_db: Engine, tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"register{suffix}"
    path.write_bytes(data)
    imports_cleanly_or_changes_nothing(register_db, path)


@FUZZ
@given(
    header=st.sampled_from(HEADERS),
    rows=st.lists(st.lists(HOSTILE_CELLS, min_size=0, max_size=8), max_size=6),
    keep_good=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16"]),
)
def test_hostile_registers_are_refused_clearly_or_imported_whole(
    register_db: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    keep_good: bool,
    encoding: str,
) -> None:
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(([GOOD] if keep_good else []) + rows)
    path = tmp_path_factory.mktemp("csv") / "register.csv"
    path.write_bytes(text.getvalue().encode(encoding, errors="replace"))
    imports_cleanly_or_changes_nothing(register_db, path)


# ---------------------------------------------------------------- provider payloads

MAPPED: dict[str, Any] = {
    "name": "registry",
    "topic": "registration",
    "url": "https://provider.example/lookup?keyword={credit_code}",
    "record_path": "Result",
    "not_found": {"path": "Status", "equals": "201"},
    "fields": {
        "credit_code": "CreditCode",
        "name": "Name",
        "raw_status": "Status",
        "former_names": "OriginalName[].Name",
        "division_code": "AreaCode",
    },
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["Status", "Result", "Name", "CreditCode", "OriginalName", "AreaCode", "x"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def interpret(body: bytes) -> Any:
    async def run() -> Any:
        connector = HttpConnector(ConnectorSettings.model_validate(MAPPED))
        try:
            return connector.interpret("91110108600037341L", 200, body, datetime.now(UTC))
        finally:
            await connector.aclose()

    return asyncio.run(run())


@FUZZ
@given(payload=JSON)
def test_random_json_against_the_mapping_is_an_outcome(payload: Any) -> None:
    outcome = interpret(json.dumps(payload).encode())
    assert outcome.kind in ("found", "not_found", "error")
    if outcome.kind == "error":
        assert outcome.error_detail


@FUZZ
@given(
    depth=st.integers(min_value=30, max_value=300_000),
    huge=st.integers(min_value=10_001, max_value=3_000_000),
    noise=st.binary(max_size=200),
)
def test_deep_huge_and_broken_bodies_are_an_outcome(depth: int, huge: int, noise: bytes) -> None:
    for body in (
        b"[" * depth + b"]" * depth,
        json.dumps({"Status": "200", "Result": {"CreditCode": "x", "Name": "名" * huge}}).encode(),
        noise,
        b'{"Status": "200", "Result": {"Name": "trunc',
    ):
        outcome = interpret(body)
        assert outcome.kind == "error"
        assert outcome.error_kind in ("too_large", "bad_json", "schema_mismatch")
