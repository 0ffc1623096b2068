"""Every ``DRIFTLOOP_*`` name that some driftloop service reads (generated from the settings models).

The services ship as separate images that share one configuration (the chart's ConfigMap,
Compose's common block), so the unknown-variable check at start (driftloop.settings) cannot
import the other services' settings: this is what it knows of them. After changing a service's
settings, regenerate it with ``python -m driftloop.settings_catalogue`` (every service installed,
as ``make venv`` does); tests/unit/cli/test_environment.py fails until it matches.
"""

from __future__ import annotations

import importlib
from functools import reduce
from pathlib import Path

from driftloop.settings import SettingNames, setting_names

SERVICE_SETTINGS = (
    "driftloop_scoring.settings:ScoringSettings",
    "driftloop_features.settings:FeaturesSettings",
    "driftloop_forwarder.settings:ForwarderSettings",
    "driftloop_controller.settings:ControllerSettings",
)
READ_OUTSIDE_SETTINGS = frozenset({"DRIFTLOOP_TAG"})
"""Names driftloop's own files read that are no setting: the image tag in docker-compose.yml."""

# fmt: off
KNOWN = SettingNames(
    names=frozenset({
        "DRIFTLOOP_ACCESS_LOG",
        "DRIFTLOOP_AUTH",
        "DRIFTLOOP_AUTH__ADMIN_TOKEN",
        "DRIFTLOOP_AUTH__API_KEYS",
        "DRIFTLOOP_AUTH__PROTECT_METRICS",
        "DRIFTLOOP_AZURE_DEVOPS",
        "DRIFTLOOP_AZURE_DEVOPS__BASE_URL",
        "DRIFTLOOP_AZURE_DEVOPS__DATASETS_MOUNT",
        "DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION",
        "DRIFTLOOP_AZURE_DEVOPS__PIPELINE_ID",
        "DRIFTLOOP_AZURE_DEVOPS__PROJECT",
        "DRIFTLOOP_AZURE_DEVOPS__REF_NAME",
        "DRIFTLOOP_AZURE_DEVOPS__TIMEOUT_S",
        "DRIFTLOOP_AZURE_DEVOPS__TOKEN",
        "DRIFTLOOP_BUS",
        "DRIFTLOOP_BUS__BATCH_SIZE",
        "DRIFTLOOP_BUS__BUFFER_SIZE",
        "DRIFTLOOP_BUS__COMPRESSION",
        "DRIFTLOOP_BUS__CONNECTION_STRING",
        "DRIFTLOOP_BUS__CONSUMER_GROUP",
        "DRIFTLOOP_BUS__EVENTS_PER_MESSAGE",
        "DRIFTLOOP_BUS__LINGER_KAFKA_MS",
        "DRIFTLOOP_BUS__LINGER_MS",
        "DRIFTLOOP_BUS__MESSAGE_MAX_BYTES",
        "DRIFTLOOP_BUS__OUTBOX",
        "DRIFTLOOP_BUS__OUTBOX_FSYNC",
        "DRIFTLOOP_BUS__OUTBOX_SEGMENT_BYTES",
        "DRIFTLOOP_BUS__POLL_TIMEOUT_MS",
        "DRIFTLOOP_BUS__RELAY",
        "DRIFTLOOP_BUS__RETRY_BACKOFF_MAX_S",
        "DRIFTLOOP_BUS__RETRY_BACKOFF_S",
        "DRIFTLOOP_BUS__SEND_TIMEOUT_S",
        "DRIFTLOOP_BUS__SPILL_MAX_BYTES",
        "DRIFTLOOP_BUS__SPILL_PATH",
        "DRIFTLOOP_BUS__URL",
        "DRIFTLOOP_DASHBOARD",
        "DRIFTLOOP_DASHBOARD__TOKEN",
        "DRIFTLOOP_DRIFT",
        "DRIFTLOOP_DRIFT__ENABLED",
        "DRIFTLOOP_DRIFT__FLUSH_INTERVAL_S",
        "DRIFTLOOP_DRIFT__IDLE_CLOSE_S",
        "DRIFTLOOP_DRIFT__LABEL_MEMORY",
        "DRIFTLOOP_DRIFT__RETRAIN_POLL_S",
        "DRIFTLOOP_DRIFT__RULES",
        "DRIFTLOOP_FEATURES",
        "DRIFTLOOP_FEATURES__API_KEY",
        "DRIFTLOOP_FEATURES__DATASETS_DIR",
        "DRIFTLOOP_FEATURES__DATASET_TIMEOUT_SECONDS",
        "DRIFTLOOP_FEATURES__DEFINITIONS",
        "DRIFTLOOP_FEATURES__GATE",
        "DRIFTLOOP_FEATURES__GATE__MAX_MISSING_RATE",
        "DRIFTLOOP_FEATURES__GATE__MAX_VIOLATION_SHARE",
        "DRIFTLOOP_FEATURES__GATE__MIN_CLASS_SHARE",
        "DRIFTLOOP_FEATURES__GATE__MIN_HOLDOUT_ROWS",
        "DRIFTLOOP_FEATURES__GATE__MIN_TRAIN_ROWS",
        "DRIFTLOOP_FEATURES__POLL_SECONDS",
        "DRIFTLOOP_FEATURES__SOURCES",
        "DRIFTLOOP_FEATURES__STRATEGY",
        "DRIFTLOOP_FEATURES__STRATEGY__HOLDOUT",
        "DRIFTLOOP_FEATURES__STRATEGY__HOLDOUT_SHARE",
        "DRIFTLOOP_FEATURES__STRATEGY__KIND",
        "DRIFTLOOP_FEATURES__STRATEGY__MIN_ROWS",
        "DRIFTLOOP_FEATURES__STRATEGY__OLDER",
        "DRIFTLOOP_FEATURES__STRATEGY__OLDER_SHARE",
        "DRIFTLOOP_FEATURES__STRATEGY__OLDER_WEIGHT",
        "DRIFTLOOP_FEATURES__STRATEGY__RECENT",
        "DRIFTLOOP_FEATURES__STRATEGY__SEED",
        "DRIFTLOOP_FEATURES__STRATEGY__SINCE",
        "DRIFTLOOP_FEATURES__STRATEGY__WEIGHT",
        "DRIFTLOOP_FEATURES__STRATEGY__WEIGHTING",
        "DRIFTLOOP_FEATURES__STRATEGY__WEIGHT_COLUMN",
        "DRIFTLOOP_FEATURES__TIMEOUT_SECONDS",
        "DRIFTLOOP_FEATURES__URL",
        "DRIFTLOOP_FORWARD",
        "DRIFTLOOP_FORWARD__BATCH_SIZE",
        "DRIFTLOOP_FORWARD__GC_GEN0_THRESHOLD",
        "DRIFTLOOP_FORWARD__LAG_GROWTH_SPAN_S",
        "DRIFTLOOP_FORWARD__RETRY_BACKOFF_MAX_S",
        "DRIFTLOOP_FORWARD__RETRY_BACKOFF_S",
        "DRIFTLOOP_FORWARD__STALL_AFTER_S",
        "DRIFTLOOP_GRPC_PORT",
        "DRIFTLOOP_HOST",
        "DRIFTLOOP_LIMITS",
        "DRIFTLOOP_LIMITS__EXTRA_COLUMNS",
        "DRIFTLOOP_LIMITS__FEEDBACK_MEMORY",
        "DRIFTLOOP_LIMITS__MAX_BODY_BYTES",
        "DRIFTLOOP_LIMITS__MAX_ERROR_DETAILS",
        "DRIFTLOOP_LIMITS__MAX_RECORDS",
        "DRIFTLOOP_LOG",
        "DRIFTLOOP_LOG__JSON_LOGS",
        "DRIFTLOOP_LOG__LEVEL",
        "DRIFTLOOP_POLICY",
        "DRIFTLOOP_PORT",
        "DRIFTLOOP_REGISTRY",
        "DRIFTLOOP_REGISTRY__MODELS",
        "DRIFTLOOP_REGISTRY__PATH",
        "DRIFTLOOP_REGISTRY__PINNED_VERSIONS",
        "DRIFTLOOP_REGISTRY__POLL_INTERVAL_S",
        "DRIFTLOOP_ROLLOUT",
        "DRIFTLOOP_ROLLOUT__DEPLOYMENT",
        "DRIFTLOOP_ROLLOUT__ENABLED",
        "DRIFTLOOP_ROLLOUT__HOST",
        "DRIFTLOOP_ROLLOUT__NAMESPACE",
        "DRIFTLOOP_ROLLOUT__TOKEN",
        "DRIFTLOOP_ROLLOUT__VERIFY_SSL",
        "DRIFTLOOP_STORE",
        "DRIFTLOOP_STORE__MIGRATE_ON_START",
        "DRIFTLOOP_STORE__POOL_SIZE",
        "DRIFTLOOP_STORE__URL",
        "DRIFTLOOP_TAG",
        "DRIFTLOOP_TELEMETRY",
        "DRIFTLOOP_TRAINING_JOB",
        "DRIFTLOOP_TRAINING_JOB__ACTIVE_DEADLINE_SECONDS",
        "DRIFTLOOP_TRAINING_JOB__DATASETS_CLAIM",
        "DRIFTLOOP_TRAINING_JOB__DATASETS_MOUNT",
        "DRIFTLOOP_TRAINING_JOB__HOST",
        "DRIFTLOOP_TRAINING_JOB__IMAGE",
        "DRIFTLOOP_TRAINING_JOB__MODE",
        "DRIFTLOOP_TRAINING_JOB__NAMESPACE",
        "DRIFTLOOP_TRAINING_JOB__NAME_PREFIX",
        "DRIFTLOOP_TRAINING_JOB__POLL_SECONDS",
        "DRIFTLOOP_TRAINING_JOB__REGISTRY_CLAIM",
        "DRIFTLOOP_TRAINING_JOB__RESOURCES",
        "DRIFTLOOP_TRAINING_JOB__TOKEN",
        "DRIFTLOOP_TRAINING_JOB__TTL_SECONDS_AFTER_FINISHED",
        "DRIFTLOOP_TRAINING_JOB__VERIFY_SSL",
        "DRIFTLOOP_WEBHOOK",
        "DRIFTLOOP_WEBHOOK__GIVE_UP_AFTER",
        "DRIFTLOOP_WEBHOOK__INITIAL_BACKOFF",
        "DRIFTLOOP_WEBHOOK__MAX_BACKOFF",
        "DRIFTLOOP_WEBHOOK__SECRET",
        "DRIFTLOOP_WEBHOOK__TIMEOUT",
        "DRIFTLOOP_WEBHOOK__TOLERANCE_SECONDS",
        "DRIFTLOOP_WEBHOOK__URL",
        "DRIFTLOOP_WORKERS",
    }),
    open_prefixes=frozenset({
        "DRIFTLOOP_FEATURES__DEFINITIONS__",
        "DRIFTLOOP_FEATURES__SOURCES__",
        "DRIFTLOOP_TRAINING_JOB__RESOURCES__",
    }),
)
# fmt: on


def from_models() -> SettingNames:
    """What the installed services' settings models read (the catalogue's source)."""
    models = []
    for path in SERVICE_SETTINGS:
        module, _, name = path.partition(":")
        models.append(getattr(importlib.import_module(module), name))
    return reduce(SettingNames.__or__, map(setting_names, models), SettingNames(READ_OUTSIDE_SETTINGS))


def render(known: SettingNames) -> str:
    """This module's text with ``known`` as its catalogue."""
    source = Path(__file__).read_text()
    head, _, rest = source.partition("# fmt: off\n")
    _, _, tail = rest.partition("# fmt: on\n")
    names = "".join(f'        "{name}",\n' for name in sorted(known.names))
    prefixes = "".join(f'        "{prefix}",\n' for prefix in sorted(known.open_prefixes))
    block = (
        f"KNOWN = SettingNames(\n    names=frozenset({{\n{names}    }}),\n"
        f"    open_prefixes=frozenset({{\n{prefixes}    }}),\n)\n"
    )
    return f"{head}# fmt: off\n{block}# fmt: on\n{tail}"


if __name__ == "__main__":
    Path(__file__).write_text(render(from_models()))
