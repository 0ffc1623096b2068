"""The retrain pipeline's gate, run in the retrain-controller's pod with its code and settings:

    kubectl exec -i deploy/<controller> -- python - <model> <data path> <holdout path> < gate.py

The challenger is the newest version trained on ``<data path>`` (its lineage names the file); it is
compared with the champion on the snapshot's holdout by the controller's own gate
(``driftloop_controller.gate.compare``, the policy's ``retrain.gate``), exactly as a retrain in the
cluster would be. Sets the step's output variables ``challengerVersion``, ``promote`` (true or
false: a rejection is an outcome, not a failure) and ``decision`` (the gate's JSON, for the report).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from driftloop.policy import load_policy
from driftloop.registry import CHAMPION, Registry
from driftloop.train.dataset import load_table
from driftloop_controller.gate import compare
from driftloop_controller.settings import ControllerSettings


def output(name: str, value: str) -> None:
    print(f"##vso[task.setvariable variable={name};isOutput=true]{value}", flush=True)


def main(model: str, data_path: str, holdout_path: str) -> None:
    settings = ControllerSettings()
    policy = load_policy(settings.policy).retrain
    registry = Registry(settings.registry.path)
    data_path = str(Path(data_path).resolve())  # as the lineage records it
    trained = [
        v for v in registry.versions(model)
        if registry.resolve(model, v).document("lineage").get("dataset", {}).get("path") == data_path
    ]  # fmt: skip
    if not trained:
        raise SystemExit(f"no version of {model} was trained on {data_path}: did the Train stage register one?")
    challenger = registry.resolve(model, max(trained))
    champion = registry.resolve(model, CHAMPION)
    decision = compare(champion, challenger, load_table(holdout_path), policy.gate, seed=policy.training.seed)
    print(f"gate: {decision['outcome']}: {'; '.join(decision['reasons'])}")
    output("challengerVersion", str(challenger.version))
    output("promote", "true" if decision["promote"] else "false")
    output("decision", json.dumps(decision, default=str, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python - <model> <data path> <holdout path> < gate.py")
    main(*sys.argv[1:])
