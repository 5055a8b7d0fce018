"""`sfm db`: schema migrations."""

from __future__ import annotations

import typer

from monitor.cli.common import say, state
from monitor.i18n import Message

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the database schema to this version of sfm."""
    from monitor.storage import db

    engine = db.make_engine(state(ctx).database_url)
    before, after = db.upgrade(engine)
    say(Message("db.current" if before == after else "db.upgraded", head=after))
