"""The daemon's API (DESIGN §7): staff commands as typed calls, HTTP/JSON under /api/v1.

One table of operations (`routes`), each a plain function of a `Call`. The daemon serves
the table over its Unix socket (`server`, aiohttp); without a daemon the CLI calls the same
table in its own process (`inprocess`, an httpx transport). The CLI (`client`) sees only
HTTP either way: one implementation of each command, behind one interface.
"""

import sys

# httpx imports its own command line (httpx._main: click, rich and pygments) when it is
# imported, for a `httpx` console script sfm never runs: a fifth of the client's start-up.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
