"""A training set and configuration for a retrain run nobody handed one (the schedule, a manual run), made
in the retrain-controller's pod with its code and settings, as the controller makes them for a hand-off:

    kubectl exec -i deploy/<controller> -- python - <model> <run id> < prepare_training.py

Asks the feature-engineering service for a snapshot with the policy's ``retrain.dataset`` strategy
(``driftloop_controller.features_client``, the controller's key), writes the challenger's training
configuration (the champion's target and derived features, the policy's budget) to
``<datasets>/jobs/pipeline-<run id>.yaml``, and sets the step's output variables ``dataPath``,
``holdoutPath`` and ``configPath``.
"""

from __future__ import annotations

import asyncio
import sys

from driftloop.policy import load_policy
from driftloop.registry import CHAMPION, Registry
from driftloop_controller.features_client import FeaturesClient
from driftloop_controller.handoff import challenger_config, write_training_config
from driftloop_controller.retrain_request import dataset_plan
from driftloop_controller.settings import ControllerSettings


def output(name: str, value: str) -> None:
    print(f"##vso[task.setvariable variable={name};isOutput=true]{value}", flush=True)


async def main(model: str, run_id: str) -> None:
    settings = ControllerSettings()
    policy = load_policy(settings.policy).retrain
    champion = Registry(settings.registry.path).resolve(model, CHAMPION)
    plan = dataset_plan(policy, {})
    print(f"training set for {model}: {plan.describe()}", flush=True)
    async with FeaturesClient(settings.features) as features:
        dataset = await features.materialise(model, **plan.body)
    config = challenger_config(champion, policy)
    config_path = write_training_config(settings.azure_devops.datasets_mount, f"pipeline-{run_id}", config)
    print(f"dataset {dataset.id}: {dataset.rows} rows, sha256 {dataset.sha256[:12]}; configuration {config_path}")
    output("dataPath", str(dataset.train_path))
    output("holdoutPath", str(dataset.holdout_path))
    output("configPath", str(config_path))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python - <model> <run id> < prepare_training.py")
    asyncio.run(main(*sys.argv[1:]))
