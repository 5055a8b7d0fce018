"""The flags listing reads its columns without the ORM: each is the model's column, by name
and type, so a migration that renames or retypes one fails here and not in `sfm flags list`."""

from __future__ import annotations

import pytest
from sqlalchemy import TableClause
from sqlmodel import SQLModel

import monitor.storage.models  # noqa: F401 (the tables on SQLModel's metadata)
from monitor.flags.listing import FACTORY, FLAG


@pytest.mark.parametrize("light", [FLAG, FACTORY], ids=lambda light: light.name)
def test_the_listings_columns_are_the_models(light: TableClause) -> None:
    table = SQLModel.metadata.tables[light.name]
    for column in light.columns:
        assert column.name in table.columns, f"{table.name} has no column {column.name}"
        assert isinstance(table.columns[column.name].type, type(column.type)), column.name
