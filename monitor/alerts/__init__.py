"""Alerts: route → outbox → render → send → record (DESIGN §5).

Each stage is its own module: `authorities` (who can be told), `routing` (who
must be told of a flag), `outbox` (what is owed, written with the flag),
`render` (the words), `send` (apprise), `dispatch` (attempts, backoff, budget).
"""
