"""The drop-folder connector reading real files in the formats bureaus send."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from connectors.base import DroppedFile, Topic
from connectors.files import FilesConnector
from connectors.settings import ConnectorSettings

HEADER = ["统一社会信用代码", "事故编号", "事故类型", "发生日期", "死亡人数", "直接经济损失"]
ROWS = [
    ["91110000600037341L", "AQ-1", "生产安全事故", "2026/9/14", "10", "3200万"],
    ["91110000600037341L", "AQ-2", "生产安全事故", "2026年3月1日", "0", "1000"],
    ["91110000101623741K", "HJ-1", "突发环境事件", "2026-07-30", "", ""],
]


def settings(folder: Path) -> ConnectorSettings:
    return ConnectorSettings.model_validate(
        {
            "name": "emergency-bureau",
            "kind": "files",
            "topic": "safety",
            "path": str(folder),
            "record_path": "items",
            "fields": {
                "credit_code": "统一社会信用代码",
                "record_id": "事故编号",
                "category": "事故类型",
                "occurred_on": "发生日期",
                "deaths": "死亡人数",
                "direct_loss_cny": "直接经济损失",
            },
            "values": {
                "category": {"生产安全事故": "production_safety", "突发环境事件": "environmental"}
            },
        }
    )


def read_all(folder: Path, consumed: set[str] | None = None) -> list[DroppedFile]:
    connector = FilesConnector(settings(folder), folder=folder)

    async def run() -> list[DroppedFile]:
        return [dropped async for dropped in connector.new_files(consumed or set())]

    return asyncio.run(run())


def write_csv(path: Path, rows: list[list[str]], encoding: str) -> None:
    text = "\n".join(",".join(row) for row in [HEADER, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    write_csv(tmp_path / "accidents.csv", ROWS, encoding)
    [dropped] = read_all(tmp_path)
    assert dropped.error is None and dropped.rows == 3
    outcomes = {outcome.credit_code: outcome for outcome in dropped.outcomes}
    first = outcomes["91110000600037341L"].records
    assert [r.record_id for r in first] == ["AQ-1", "AQ-2"]  # type: ignore[attr-defined]
    assert first[0].direct_loss_cny == 32_000_000  # type: ignore[attr-defined]
    assert str(first[1].occurred_on) == "2026-03-01"  # type: ignore[attr-defined]
    assert outcomes["91110000101623741K"].records[0].category == "environmental"  # type: ignore[attr-defined]


def test_xlsx_and_json(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(ROWS[0])
    book.save(tmp_path / "a.xlsx")
    items = [dict(zip(HEADER, row, strict=True)) for row in ROWS[1:]]
    (tmp_path / "b.json").write_text(json.dumps({"items": items}, ensure_ascii=False), "utf-8")
    xlsx, js = read_all(tmp_path)
    assert xlsx.error is None and [o.credit_code for o in xlsx.outcomes] == ["91110000600037341L"]
    assert js.error is None and js.rows == 2


def test_a_bad_file_is_reported_by_row_and_does_not_block_the_others(tmp_path: Path) -> None:
    bad_rows = [ROWS[0], ["91110000600037341L", "", "生产安全事故", "2026-01-01", "1", "0"]]
    write_csv(tmp_path / "a-bad.csv", bad_rows, "utf-8")
    write_csv(tmp_path / "b-good.csv", ROWS, "utf-8")
    (tmp_path / "c-broken.json").write_text("{not json", encoding="utf-8")
    bad, good, broken = read_all(tmp_path)
    assert bad.error is not None and "a-bad.csv" in bad.error and "row 3" in bad.error
    assert bad.outcomes == []
    assert good.error is None and len(good.outcomes) == 2
    assert broken.error is not None and "c-broken.json" in broken.error


def test_consumed_files_are_not_read_again(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", ROWS, "utf-8")
    [first] = read_all(tmp_path)
    assert read_all(tmp_path, {first.content_hash}) == []
    write_csv(tmp_path / "a.csv", ROWS[:1], "utf-8")  # same name, new content: a new file
    [again] = read_all(tmp_path, {first.content_hash})
    assert again.content_hash != first.content_hash and again.rows == 1


def test_topic_and_folder_are_checked(tmp_path: Path) -> None:
    assert settings(tmp_path).topic is Topic.SAFETY
    missing = FilesConnector(settings(tmp_path / "nope"), folder=tmp_path / "nope")

    async def run() -> None:
        async for _ in missing.new_files(set()):
            pass

    with pytest.raises(FileNotFoundError):
        asyncio.run(run())


def test_hostile_files_are_refused_each_alone_and_reported_once(tmp_path: Path) -> None:
    """A link out of the folder, a GBK name, a file over the size or row bound, a huge
    cell: each is refused whole and named; the good file beside them is read."""
    import os

    folder = tmp_path / "drop"
    folder.mkdir()
    outside = tmp_path / "secret.csv"
    write_csv(outside, ROWS, "utf-8")
    (folder / "link.csv").symlink_to(outside)
    gbk_name = os.fsdecode("事故通报.csv".encode("gbk"))
    write_csv(folder / gbk_name, ROWS, "utf-8")
    write_csv(
        folder / "many.csv", [[*ROWS[0][:1], f"AQ-{n}", *ROWS[0][2:]] for n in range(30)], "utf-8"
    )
    write_csv(folder / "huge-cell.csv", [[*ROWS[0][:1], "x" * 20000, *ROWS[0][2:]]], "utf-8")
    (folder / "big.csv").write_bytes(b"a" * 70_000)
    (folder / "deep.json").write_text('{"items": ' + "[" * 20_000 + "]" * 20_000 + "}")

    limited = settings(folder).model_copy(update={"max_file_rows": 20, "max_file_bytes": 60_000})
    connector = FilesConnector(limited, folder=folder)

    async def run(consumed: set[str]) -> list[DroppedFile]:
        return [dropped async for dropped in connector.new_files(consumed)]

    dropped = {d.name: d for d in asyncio.run(run(set()))}
    assert dropped["事故通报.csv"].error is None  # the GBK name, read and shown as text
    assert len(dropped["事故通报.csv"].outcomes) == 2
    refused = {name: d.error for name, d in dropped.items() if d.error}
    assert set(refused) == {"link.csv", "many.csv", "huge-cell.csv", "big.csv", "deep.json"}
    assert "outside the drop folder" in refused["link.csv"]
    assert "over 20 rows" in refused["many.csv"]
    assert "70000 bytes" in refused["big.csv"]
    assert (
        "20000 characters" in refused["huge-cell.csv"] or "over 10000" in refused["huge-cell.csv"]
    )
    assert "nested" in refused["deep.json"]
    # recorded as consumed (rejected), none of them comes back on the next sweep
    assert asyncio.run(run({d.content_hash for d in dropped.values()})) == []


def test_a_row_whose_code_fails_its_check_is_reported_and_attached_to_no_one(
    tmp_path: Path,
) -> None:
    """91110000600037341K is 91110000600037341L with a wrong check character: it names no
    factory, so its accident belongs to none; the file's other rows are read."""
    rows = [
        ROWS[0],
        ["91110000600037341K", "AQ-BAD", "生产安全事故", "2026-09-15", "30", ""],
        ["", "AQ-NONE", "生产安全事故", "2026-09-16", "", ""],
        ROWS[2],
    ]
    write_csv(tmp_path / "accidents.csv", rows, "utf-8")
    [dropped] = read_all(tmp_path)
    assert dropped.error is None and dropped.rows == 4
    assert sorted(o.credit_code for o in dropped.outcomes) == [
        "91110000101623741K",
        "91110000600037341L",
    ]
    ids = [r.record_id for o in dropped.outcomes for r in o.records]  # type: ignore[attr-defined]
    assert "AQ-BAD" not in ids and "AQ-NONE" not in ids
    bad, none = dropped.rejected_rows
    assert bad.startswith("accidents.csv, row 3: ") and "expected 'L'" in bad
    assert none.startswith("accidents.csv, row 4: ") and "no credit code" in none


def test_a_code_accepted_in_config_passes_despite_its_check_character(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [["91110000600037341K", *ROWS[0][1:]]], "utf-8")
    connector = FilesConnector(
        settings(tmp_path), folder=tmp_path, accept_codes=["91110000600037341k"]
    )

    async def run() -> list[DroppedFile]:
        return [dropped async for dropped in connector.new_files(set())]

    [dropped] = asyncio.run(run())
    assert dropped.rejected_rows == ()
    assert [o.credit_code for o in dropped.outcomes] == ["91110000600037341K"]


def test_a_full_width_code_in_a_row_is_the_same_code_and_noted(tmp_path: Path) -> None:
    wide = "".join(chr(ord(char) + 0xFEE0) for char in "91110000600037341L")
    write_csv(tmp_path / "a.csv", [[f" {wide}\u200b", *ROWS[0][1:]], ROWS[1]], "utf-8")
    [dropped] = read_all(tmp_path)
    [outcome] = dropped.outcomes
    assert outcome.credit_code == "91110000600037341L" and outcome.codes_folded == 1
    assert [r.credit_code for r in outcome.records] == ["91110000600037341L"] * 2  # type: ignore[attr-defined]


def test_a_file_that_grows_after_its_size_was_checked_is_refused_as_oversize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer appends to the file between the size check and the read: what is
    read is the descriptor that was checked, no further than the bound plus one byte."""
    import os

    import connectors.files as files

    path = tmp_path / "growing.csv"
    write_csv(path, ROWS, "utf-8")
    limit = 4096
    real_fstat = os.fstat
    grown = {"done": False}

    def fstat_then_grow(descriptor: int) -> os.stat_result:
        status = real_fstat(descriptor)
        if not grown["done"]:  # the writer strikes right after the check
            grown["done"] = True
            with path.open("ab") as writer:
                line = "91110000600037341L,AQ-X,生产安全事故,2026-01-01,0,0\n"
                writer.write(line.encode() * 2000)
        return status

    monkeypatch.setattr(files.os, "fstat", fstat_then_grow)
    read_bytes: list[int] = []
    real_read = os.read

    def counting_read(descriptor: int, size: int) -> bytes:
        chunk = real_read(descriptor, size)
        read_bytes.append(len(chunk))
        return chunk

    monkeypatch.setattr(files.os, "read", counting_read)
    limited = settings(tmp_path).model_copy(update={"max_file_bytes": limit})
    connector = FilesConnector(limited, folder=tmp_path)

    async def run() -> list[DroppedFile]:
        return [dropped async for dropped in connector.new_files(set())]

    [dropped] = asyncio.run(run())
    assert grown["done"]
    assert dropped.error is not None and f"over the limit of {limit}" in dropped.error
    assert dropped.outcomes == []
    assert sum(read_bytes) == limit + 1  # never read whole
    # reported once: the next sweep finds it over the bound by its size, under the same key

    async def next_sweep() -> list[DroppedFile]:
        return [d async for d in connector.new_files({dropped.content_hash})]

    assert asyncio.run(next_sweep()) == []


def test_a_fifo_in_the_folder_does_not_block_the_sweep(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    write_csv(tmp_path / "real.csv", ROWS, "utf-8")
    [dropped] = read_all(tmp_path)
    assert dropped.name == "real.csv" and dropped.error is None


def test_a_date_no_one_can_read_keeps_its_row_and_is_named(tmp_path: Path) -> None:
    rows = [ROWS[0], ["91110000600037341L", "AQ-9", "生产安全事故", "去年", "1", "-"]]
    write_csv(tmp_path / "a.csv", rows, "utf-8")
    [dropped] = read_all(tmp_path)
    assert dropped.error is None
    records = [record for outcome in dropped.outcomes for record in outcome.records]
    [undated] = [r for r in records if r.model_dump()["record_id"] == "AQ-9"]
    assert undated.model_dump()["occurred_on"] is None
    assert undated.unmapped == {"occurred_on": "去年"}
    assert undated.model_dump()["direct_loss_cny"] is None  # "-": none, without a flag


def test_a_file_swapped_for_a_link_after_its_check_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the check that the file lies in the folder and its opening, someone puts a
    link to a file outside in its place: the open does not follow it."""
    import os

    import connectors.files as files

    folder = tmp_path / "drop"
    folder.mkdir()
    secret = tmp_path / "secret.csv"
    write_csv(secret, ROWS, "utf-8")
    write_csv(folder / "a.csv", ROWS, "utf-8")
    real_open = os.open

    def swap_then_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).name == "a.csv":  # the attacker's move, right before the open
            Path(path).unlink()
            Path(path).symlink_to(secret)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", swap_then_open)
    [dropped] = read_all(folder)
    assert dropped.error is not None and "replaced by a link" in dropped.error
    assert dropped.outcomes == [] and dropped.rows == 0
