"""The SQL store on SQLite: migrations match the models, writes are idempotent, feedback joins either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from telemetry_samples import make_feedback, make_prediction, make_rejected

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade, write_batch
from driftloop.store.migrate import current_revision, head_revision
from driftloop.store.models import Base
from driftloop.store.queries import labelled_predictions
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.parse import ParsedBatch, parse_records


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    return engine


def batch_of(*events: dict[str, object], offset: int = 0) -> ParsedBatch:
    records = [Record(value=orjson.dumps(e), key=None, partition=0, offset=offset + i) for i, e in enumerate(events)]
    return parse_records(records)


def test_the_migrated_schema_is_what_the_models_describe(engine: Engine) -> None:
    head = head_revision()
    assert head is not None
    assert current_revision(engine) == head
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    upgrade(engine)  # a second start migrates nothing and fails nothing
    assert current_revision(engine) == head


def test_a_batch_delivered_twice_is_stored_once(engine: Engine) -> None:
    batch = batch_of(make_prediction(1, records=3), make_feedback(1), make_rejected(1))
    batch.dead_letters.extend(parse_records([Record(value=b"junk", key=None, partition=0, offset=99)]).dead_letters)
    first = write_batch(engine, batch)
    assert (first.predictions, first.feedback, first.rejected, first.dead_letters) == (3, 1, 1, 1)
    write_batch(engine, batch)
    assert count_rows(engine) == {"predictions": 3, "feedback": 1, "rejected": 1, "dead_letters": 1}


def test_prediction_rows_carry_the_record_and_its_unseen_flags(engine: Engine) -> None:
    event = make_prediction(7, records=2)
    write_batch(engine, batch_of(event))
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT record_index, record, prediction, probabilities, unseen FROM predictions ORDER BY 1")
        ).all()
    assert [row[0] for row in rows] == [0, 1]
    assert orjson.loads(rows[0][1]) == {"income": 7.0, "city": "x"}
    assert orjson.loads(rows[0][3]) == [0.25, 0.75]
    assert orjson.loads(rows[0][4]) == [{"record": 0, "column": "city", "reason": "category"}]
    assert rows[1][4] is None


@pytest.mark.parametrize("label_first", [True, False])
def test_feedback_joins_its_prediction_whichever_arrives_first(engine: Engine, label_first: bool) -> None:
    prediction = batch_of(make_prediction(5, records=3))
    labels = batch_of(make_feedback(5, record_index=1), offset=10)
    for batch in (labels, prediction) if label_first else (prediction, labels):
        write_batch(engine, batch)
    joined = labelled_predictions(engine, "credit")
    assert [(row["request_id"], row["record_index"], row["actual"]) for row in joined] == [("req-5", 1, 1)]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM labelled_predictions")).scalar_one() == 1


def test_request_level_feedback_labels_every_record(engine: Engine) -> None:
    write_batch(engine, batch_of(make_prediction(3, records=4), make_feedback(3), make_prediction(4)))
    assert [row["record_index"] for row in labelled_predictions(engine, "credit")] == [0, 1, 2, 3]


def test_a_batch_delivered_twice_is_rolled_up_once(engine: Engine) -> None:
    second = make_prediction(2)
    batch = batch_of(make_prediction(1, records=3), second, make_rejected(1))
    write_batch(engine, batch)
    write_batch(engine, batch)
    write_batch(engine, batch_of(second, make_prediction(3, records=2), offset=10))  # one old, one new event
    with engine.connect() as connection:
        totals = connection.execute(
            text("SELECT sum(requests), sum(records), sum(rejected) FROM traffic_minutes")
        ).one()
    assert tuple(totals) == (3, 6, 1)


def test_an_event_twice_in_one_batch_is_rolled_up_once(engine: Engine) -> None:
    event = make_prediction(1, records=2)
    write_batch(engine, batch_of(event, event))
    with engine.connect() as connection:
        totals = connection.execute(text("SELECT sum(requests), sum(records) FROM traffic_minutes")).one()
    assert tuple(totals) == (1, 2)


def test_upgrading_a_store_with_traffic_rolls_its_rows_up(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from driftloop.store.models import Prediction, Rejected
    from driftloop.store.writer import batch_rows

    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'old.db'}"))
    upgrade(engine, "0003_drift")  # before the rollup: rows written the old way, then the upgrade
    rows = batch_rows(batch_of(make_prediction(1, records=3), make_prediction(2), make_rejected(1)))
    with engine.begin() as connection:
        connection.execute(insert(Prediction), before_0006(rows["predictions"]))
        connection.execute(insert(Rejected), rows["rejected"])
    upgrade(engine)
    with engine.connect() as connection:
        totals = connection.execute(
            text("SELECT sum(requests), sum(records), sum(rejected) FROM traffic_minutes")
        ).one()
    assert tuple(totals) == (2, 4, 1)


def before_0006(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as a store before migration 0006 held them: no served_at / received_at."""
    return [{k: v for k, v in row.items() if k not in ("served_at", "received_at")} for row in rows]


def _labelled_totals(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        labelled, correct = connection.execute(text("SELECT sum(labelled), sum(correct) FROM traffic_minutes")).one()
    return int(labelled or 0), int(correct or 0)


def test_labels_are_rolled_up_once_whichever_arrives_first_and_however_often(engine: Engine) -> None:
    # req-1 predicts 1 (right: the samples' labels are 1), req-2 predicts 0 (wrong).
    early = batch_of(make_feedback(2, record_index=1), offset=0)  # before its prediction
    write_batch(engine, early)
    write_batch(engine, batch_of(make_prediction(1, records=3), make_prediction(2, records=2), offset=10))
    assert _labelled_totals(engine) == (1, 0)
    late = batch_of(make_feedback(1), offset=20)  # request-level: all 3 records of req-1
    write_batch(engine, late)
    write_batch(engine, late)  # redelivered: stored once, counted once
    write_batch(engine, early)
    assert _labelled_totals(engine) == (4, 3)
    write_batch(engine, batch_of(make_feedback(2, record_index=1), offset=30))  # a second label for a record
    assert _labelled_totals(engine) == (5, 3) == (len(labelled_predictions(engine, "credit")), 3)


def test_upgrading_a_store_with_feedback_counts_its_labels(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from driftloop.store.models import Feedback, Prediction
    from driftloop.store.writer import batch_rows

    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'old.db'}"))
    upgrade(engine, "0004_traffic_rollup")  # before the labelled counts: rows written then, then the upgrade
    rows = batch_rows(batch_of(make_prediction(1, records=3), make_prediction(2), make_feedback(1), make_feedback(2)))
    with engine.begin() as connection:
        connection.execute(insert(Prediction), before_0006(rows["predictions"]))
        connection.execute(insert(Feedback), before_0006(rows["feedback"]))
    upgrade(engine)
    assert _labelled_totals(engine) == (4, 3)


def test_a_label_pairs_only_with_its_own_models_prediction(engine: Engine) -> None:
    write_batch(engine, batch_of(make_prediction(1, model="other"), make_prediction(2, model="other")))
    write_batch(engine, batch_of(make_feedback(1), offset=10))  # credit's req-1: none stored yet
    write_batch(engine, batch_of(make_prediction(1), make_feedback(2), offset=20))
    assert _labelled_totals(engine) == (1, 1) == (len(labelled_predictions(engine, "credit")), 1)
