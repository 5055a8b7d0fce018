"""The schema revision this code needs, known without importing alembic or SQLAlchemy.

Every command checks the database against it, and `sfm flags list` must answer
within half a second of a cold start; a test holds it equal to the head of
monitor/migrations.
"""

SCHEMA_HEAD = "0005_daemon"
