"""The tables sfm keeps. Schema changes go through alembic migrations only (monitor/migrations)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from monitor.storage.sqltypes import UTCDateTime
from monitor.vocabulary import (
    AlertStatus,
    DesignationStatus,
    EventKind,
    FileStatus,
    FlagState,
    Level,
    Outcome,
    Severity,
    SweepStatus,
    sql_in,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Factory(SQLModel, table=True):
    """A designated smart factory as the register records it."""

    __tablename__ = "factory"
    __table_args__ = (
        CheckConstraint(sql_in("level", Level), name="ck_factory_level"),
        CheckConstraint(sql_in("status", DesignationStatus), name="ck_factory_status"),
        # a district's page of the register, in its order, without sorting the district
        Index("ix_factory_district_page", "district_code", "credit_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    credit_code: str = Field(sa_column=Column(String(18), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    district_code: str = Field(sa_column=Column(String(6), nullable=False, index=True))
    designated_on: date
    registered_address: str | None = Field(default=None, sa_column=Column(String(500)))
    status: str = Field(
        default=DesignationStatus.ACTIVE.value, sa_column=Column(String(16), nullable=False)
    )
    revoked_on: date | None = None
    # 企业类型 seen at the first sweep after designation: a change means restructuring.
    baseline_entity_type: str | None = Field(default=None, sa_column=Column(String(100)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Designation(SQLModel, table=True):
    """One designation an enterprise holds: a factory, at a level, from a date, under a reference.

    An enterprise may hold several (basic and then advanced, Article 7, or several
    factories). The `factory` row is the enterprise; its level, designation date,
    district and status summarise its designations (monitor/register/store.summarise).
    """

    __tablename__ = "designation"
    __table_args__ = (
        CheckConstraint(sql_in("level", Level), name="ck_designation_level"),
        CheckConstraint(sql_in("status", DesignationStatus), name="ck_designation_status"),
        Index("ux_designation_identity", "factory_id", "level", "name", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    factory_id: int = Field(sa_column=Column(Integer, ForeignKey("factory.id"), nullable=False))
    # the factory designated, when the register names one; "" for the enterprise's own
    name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    district_code: str = Field(sa_column=Column(String(6), nullable=False))
    designated_on: date
    reference: str | None = Field(default=None, sa_column=Column(String(200)))
    status: str = Field(
        default=DesignationStatus.ACTIVE.value, sa_column=Column(String(16), nullable=False)
    )
    revoked_on: date | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class DesignationEvent(SQLModel, table=True):
    """What happened to a designation, when, on whose word; never updated or deleted."""

    __tablename__ = "designation_event"
    __table_args__ = (CheckConstraint(sql_in("kind", EventKind), name="ck_event_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    factory_id: int = Field(
        sa_column=Column(Integer, ForeignKey("factory.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    occurred_on: date
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    # the operator's configured name ("市经信局 张三"), beside the OS user in `actor`
    actor_name: str | None = Field(default=None, sa_column=Column(String(200)))
    reference: str | None = Field(default=None, sa_column=Column(String(200)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    source: str | None = Field(default=None, sa_column=Column(String(500)))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Observation(SQLModel, table=True):
    """What one connector said about one factory, kept as history: a row per change.

    An answer identical to the latest one only moves `last_checked_at`, so the
    history shows what changed and when, and stays small.
    """

    __tablename__ = "observation"
    __table_args__ = (
        CheckConstraint(sql_in("outcome", Outcome), name="ck_observation_outcome"),
        Index("ix_observation_latest", "connector", "factory_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    factory_id: int = Field(sa_column=Column(Integer, ForeignKey("factory.id"), nullable=False))
    connector: str = Field(sa_column=Column(String(64), nullable=False))
    topic: str = Field(sa_column=Column(String(16), nullable=False))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    error_kind: str | None = Field(default=None, sa_column=Column(String(32)))
    error_detail: str | None = Field(default=None, sa_column=Column(Text))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    payload: Any = Field(default=None, sa_column=Column(JSON))
    records: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_checked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sweep_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("sweep_run.id"))
    )


class ConnectorHealth(SQLModel, table=True):
    __tablename__ = "connector_health"

    connector: str = Field(sa_column=Column(String(64), primary_key=True))
    topic: str = Field(sa_column=Column(String(16), nullable=False))
    last_success_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_error_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_error_kind: str | None = Field(default=None, sa_column=Column(String(32)))
    last_error_detail: str | None = Field(default=None, sa_column=Column(Text))
    consecutive_failures: int = 0
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class ConsumedFile(SQLModel, table=True):
    """A file a drop-folder connector has read, by content hash, so it is read once."""

    __tablename__ = "consumed_file"
    __table_args__ = (
        CheckConstraint(sql_in("status", FileStatus), name="ck_consumed_file_status"),
    )

    connector: str = Field(sa_column=Column(String(64), primary_key=True))
    content_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    file_name: str = Field(sa_column=Column(String(500), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    rows: int = 0
    consumed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class SweepRun(SQLModel, table=True):
    """One sweep; one left `running` by a crash is marked `interrupted` by the next."""

    __tablename__ = "sweep_run"
    __table_args__ = (CheckConstraint(sql_in("status", SweepStatus), name="ck_sweep_run_status"),)

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    status: str = Field(default="running", sa_column=Column(String(16), nullable=False))
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Flag(SQLModel, table=True):
    """A finding someone must decide on, tied to the clause it triggers (DESIGN §4)."""

    __tablename__ = "flag"
    __table_args__ = (
        CheckConstraint(sql_in("state", FlagState), name="ck_flag_state"),
        CheckConstraint(sql_in("severity", Severity), name="ck_flag_severity"),
        Index("ix_flag_factory", "factory_id"),
        Index("ix_flag_state", "state", "id"),
        # status and metrics count flags by state and severity from the index alone
        Index("ix_flag_state_severity", "state", "severity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    rule_id: str = Field(sa_column=Column(String(64), nullable=False))
    clause: str = Field(sa_column=Column(String(32), nullable=False))
    severity: str = Field(sa_column=Column(String(16), nullable=False))
    factory_id: int = Field(sa_column=Column(Integer, ForeignKey("factory.id"), nullable=False))
    topic: str | None = Field(default=None, sa_column=Column(String(16)))
    evidence_key: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    summary_key: str = Field(sa_column=Column(String(64), nullable=False))
    summary_params: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state_changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # How the fact ends (DESIGN §4): "event" never un-happens, "listing" is lifted by a
    # removal or its disappearance, "state" ends when the source says so.
    anchor: str = Field(
        default="state", sa_column=Column(String(8), nullable=False, server_default="state")
    )
    # An event's record the source no longer lists, since this Beijing day (the flag stays).
    unlisted_since: date | None = Field(default=None, sa_column=Column(Date, nullable=True))


class FlagAudit(SQLModel, table=True):
    """Who moved a flag, when, from what to what and why. Written once, never changed."""

    __tablename__ = "flag_audit"

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(
        sa_column=Column(Integer, ForeignKey("flag.id"), nullable=False, index=True)
    )
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    # the operator's configured name ("市经信局 张三"), beside the OS user in `actor`
    actor_name: str | None = Field(default=None, sa_column=Column(String(200)))
    from_state: str | None = Field(default=None, sa_column=Column(String(16)))
    to_state: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))


class AuditSeal(SQLModel, table=True):
    """One link of the audit's hash chain (monitor/storage/audit_chain.py): an entry of
    `flag_audit` or `designation_event`, its content's hash and the chain's hash so far.
    Append-only, like the entries it seals."""

    __tablename__ = "audit_seal"
    __table_args__ = (UniqueConstraint("audit_table", "row_id", name="uq_audit_seal_entry"),)

    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    audit_table: str = Field(sa_column=Column(String(32), nullable=False))
    row_id: int = Field(sa_column=Column(Integer, nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    entry_hash: str = Field(sa_column=Column(String(64), nullable=False))


class Alert(SQLModel, table=True):
    """The outbox: what sfm owes one recipient, written with the flag that caused it."""

    __tablename__ = "alert"
    __table_args__ = (
        CheckConstraint(sql_in("status", AlertStatus), name="ck_alert_status"),
        Index("ix_alert_due", "status", "next_attempt_at"),
        Index("ix_alert_flag", "flag_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # flag | digest | reminder | escalation | decision | closing | test | ops | filing | ...
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    # What makes it unique: one alert per flag and recipient, except reminders.
    dedup_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    flag_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("flag.id")))
    authority: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    digest_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("alert.id")))
    subject: str | None = Field(default=None, sa_column=Column(Text))
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_markdown: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    # Indexes of the authority's URLs that already took this alert: a retry after a
    # partial failure goes only to the others, so nobody gets it twice.
    delivered: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # A file sent with the message (the quarter's filing report), where email can carry one.
    attachment: str | None = Field(default=None, sa_column=Column(Text))
    # What a decision or closing notice announces (a flag_audit and a designation_event
    # id): its text is rendered from that entry. No foreign key, so that the audit tables'
    # own append-only trigger is what refuses a TRUNCATE of them.
    audit_id: int | None = Field(default=None, sa_column=Column(Integer))
    # A calendar or ops notice's facts, as the job found them: its template words them.
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    event_id: int | None = Field(default=None, sa_column=Column(Integer))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class AlertAttempt(SQLModel, table=True):
    """One hand-over to apprise and what came back: status and each service's result."""

    __tablename__ = "alert_attempt"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alert.id"), nullable=False, index=True)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    detail: str = Field(sa_column=Column(Text, nullable=False))


class JobRun(SQLModel, table=True):
    """The daemon's last run of each job: what `status` shows and what start-up makes up."""

    __tablename__ = "job_run"

    job_id: str = Field(sa_column=Column(String(64), primary_key=True))
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))  # running | ok | failed
    duration_s: float | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text))
    last_success_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # runs failed in a row, and when the first of them started: `status`, `/healthz`
    failures_in_row: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    failing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class DaemonLeader(SQLModel, table=True):
    """Who leads now: written by the daemon that holds the lock (monitor/daemon/leader.py)."""

    __tablename__ = "daemon_leader"

    id: int = Field(default=1, primary_key=True)
    host: str = Field(sa_column=Column(String(255), nullable=False))
    pid: int
    since: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DaemonEpoch(SQLModel, table=True):
    """The current leadership's number, raised by each daemon that takes the lead; its writes
    commit only while it is still theirs (the fence, monitor/daemon/leader.py)."""

    __tablename__ = "daemon_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="ck_daemon_epoch_one_row"),)

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
