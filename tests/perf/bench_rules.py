"""Benchmarks of issue 4.

(a) Evaluating the rules over 10,000 factories' latest observations: at most
    5 s and 200 MB RSS (measured in a child process that does only that).

`sfm flags list` over 100,000 flags (issue 20's bounds, through the daemon and direct) is
measured in bench_api.py, on the database `register` and `many_flags` build here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from connectors.base import (  # noqa: E402
    CreditRecord,
    FetchOutcome,
    RegistrationRecord,
    SafetyRecord,
    Topic,
)
from monitor.codes import check_character  # noqa: E402
from monitor.register.store import import_factories  # noqa: E402
from monitor.storage import db  # noqa: E402
from monitor.storage.models import Flag, SweepRun  # noqa: E402
from monitor.sweep.observations import ObservationStore  # noqa: E402
from tests.conftest import REGISTRAR  # noqa: E402

FACTORIES = int(os.environ.get("SFM_BENCH_FACTORIES", "10000"))
FLAGS = 10 * FACTORIES
NOW = datetime.now(UTC)
STATUSES = ["存续（在营、开业、在册）"] * 40 + ["注销", "吊销，未注销", "迁出", "停业", "待核实"]


def codes() -> list[str]:
    return [f"91110108MA{i:07d}" + check_character(f"91110108MA{i:07d}") for i in range(FACTORIES)]


def register(directory: Path, url: str) -> None:
    lines = ["credit_code,name,level,district,designated_on"]
    lines += [f"{code},基准企业{i}有限公司,basic,海淀,2025-06-30" for i, code in enumerate(codes())]
    path = directory / "factories.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = db.make_engine(url)
    db.upgrade(engine)
    import_factories(engine, path, operator=REGISTRAR)
    engine.dispose()


def observations(url: str) -> None:
    """One answer per factory from each of three connectors, a realistic share of them bad news."""
    engine = db.make_engine(url)
    rng = random.Random(7)
    with db.session_scope(engine) as session:
        run = SweepRun()
        session.add(run)
        session.flush()
        run_id = run.id or 0
    stores = {
        topic: ObservationStore(engine, f"{topic.value}-src", topic, run_id) for topic in Topic
    }
    batches: dict[Topic, list[tuple[int, FetchOutcome]]] = {topic: [] for topic in Topic}
    for factory_id, code in enumerate(codes(), start=1):
        index = factory_id - 1
        registration = RegistrationRecord(
            source="registration-src",
            fetched_at=NOW,
            credit_code=code,
            name=f"基准企业{index}有限公司" if rng.random() > 0.02 else f"基准新名{index}有限公司",
            raw_status=rng.choice(STATUSES),
            registration_authority="北京市海淀区市场监督管理局",
            division_code="110108",
            entity_type="有限责任公司",
        )
        credit = [
            CreditRecord(
                source="credit-src",
                fetched_at=NOW,
                record_id=f"C{index}-{n}",
                kind=rng.choice(
                    ["administrative_penalty", "abnormal_operation", "serious_violation"]
                ),
                fine_cny=rng.choice([None, 5000, 200000]),
                document_no=f"罚{index}",
            )
            for n in range(rng.choice([0, 0, 0, 1, 2]))
        ]
        safety = [
            SafetyRecord(
                source="safety-src",
                fetched_at=NOW,
                record_id=f"S{index}-{n}",
                category=rng.choice(["production_safety", "environmental"]),
                occurred_on=NOW.date() - timedelta(days=rng.randint(0, 2000)),
                deaths=rng.choice([0, 1, 3, 10]),
                direct_loss_cny=rng.random() * 6e7,
            )
            for n in range(rng.choice([0, 0, 0, 0, 1]))
        ]
        answers = {Topic.REGISTRATION: [registration], Topic.CREDIT: credit, Topic.SAFETY: safety}
        for topic, records in answers.items():
            payload = [r.model_dump(mode="json") for r in records]
            batches[topic].append(
                (
                    factory_id,
                    FetchOutcome.found(f"{topic.value}-src", code, list(records), payload, NOW),
                )
            )
            if len(batches[topic]) >= 500:
                stores[topic].write(batches[topic])
                batches[topic] = []
    for topic, batch in batches.items():
        stores[topic].write(batch)
    engine.dispose()


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from connectors.settings import ConnectorSettings
from monitor.storage import db
from monitor.config import LoadedConfig, Settings
from monitor.flags.evaluation import evaluate_register
fields = {{
    "registration": {{"credit_code": "c", "name": "n", "raw_status": "s"}},
    "credit": {{"record_id": "i", "kind": "k"}},
    "safety": {{"record_id": "i", "category": "c", "occurred_on": "d"}},
}}
connectors = [ConnectorSettings(name=f"{{t}}-src", topic=t, url="http://x/{{credit_code}}",
                                fields=f) for t, f in fields.items()]
engine = db.make_engine({url!r})
config = LoadedConfig(settings=Settings(connectors=connectors), path=None)
started = time.perf_counter()
summary = evaluate_register(engine, config)
elapsed = time.perf_counter() - started
started = time.perf_counter()
again = evaluate_register(engine, config)  # the steady state: every flag seen again
elapsed_again = time.perf_counter() - started
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": elapsed, "seconds_again": elapsed_again, "rss_mb": rss_mb,
                  "seen_again": again.tally.seen_again, **summary.as_json()}}))
"""


def evaluate_in_child(url: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), url=url)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SFM_LANG": "en"},
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def many_flags(url: str) -> None:
    engine = db.make_engine(url)
    rng = random.Random(11)
    rules = [
        "art12.2-terminated",
        "art12.5-penalty",
        "art12.3-large-accident",
        "art12-rename-pending",
        "data-unknown-status",
    ]
    rows = [
        {
            "fingerprint": f"{n:064x}",
            "rule_id": rng.choice(rules),
            "clause": "12(5)",
            "severity": rng.choice(["revocation", "review", "action"]),
            "factory_id": rng.randint(1, FACTORIES),
            "topic": "credit",
            "evidence_key": f"bench:{n}",
            "state": rng.choice(["open", "dismissed", "cleared"]),
            "summary_key": "finding.unknown_status",
            "summary_params": {"raw_status": "待核实"},
            "evidence": {"source": "bench"},
            "first_seen_at": NOW,
            "last_seen_at": NOW,
            "state_changed_at": NOW,
        }
        for n in range(FLAGS)
    ]
    with engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Flag), rows[start : start + 10_000])
    engine.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        url = f"sqlite:///{directory / 'sfm.db'}"
        started = time.perf_counter()
        register(directory, url)
        observations(url)
        took = time.perf_counter() - started
        print(f"setup: {FACTORIES} factories, 3 answers each, in {took:.1f} s")

        result = evaluate_in_child(url)
        ok = True
        ratio = result["seconds"] / 5.0
        print(
            f"(a) evaluation of {FACTORIES} factories: {result['seconds']:.2f} s; bound 5.00 s; "
            f"ratio {ratio:.3f} {'OK' if ratio <= 1 else 'OVER BOUND'} "
            f"({result['flags_opened']} flags opened)"
        )
        ok &= ratio <= 1
        again = result["seconds_again"] / 5.0
        print(
            f"(a) the next evaluation ({result['seen_again']} flags seen again): "
            f"{result['seconds_again']:.2f} s; bound 5.00 s; ratio {again:.3f} "
            f"{'OK' if again <= 1 else 'OVER BOUND'}"
        )
        ok &= again <= 1
        rss_ratio = result["rss_mb"] / 200
        print(
            f"(a) peak RSS of that process: {result['rss_mb']:.0f} MB; bound 200 MB; "
            f"ratio {rss_ratio:.3f} {'OK' if rss_ratio <= 1 else 'OVER BOUND'}"
        )
        ok &= rss_ratio <= 1

    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
