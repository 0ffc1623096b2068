"""The steps of azure-pipelines/retrain.yml, run here as an Azure Pipelines agent would run their scripts.

A step is found by its stage and display name (templates/aks-script.yml and templates/report-run.yml
are expanded as Azure Pipelines expands them); its script and env get the template expressions
(``${{ parameters.x }}``, ``${{ trim(parameters.x) }}``) and then the macros (``$(name)``, left as
written when the variable is not defined, as the agent does) substituted, and the script runs in
bash with ``set -euo pipefail`` (what the AzureCLI task's inline script gets from aks-script.yml).
The output variables a step sets (``##vso[task.setvariable ...;isOutput=true]``) are returned.
Which step runs when is the test's choice: it asserts the step's condition instead of evaluating it.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ship_helpers import ROOT

PIPELINES = ROOT / "azure-pipelines"
OUTPUT = re.compile(r"^##vso\[task\.setvariable variable=(\w+);isOutput=true\](.*)$", re.MULTILINE)


def expand(text: str, parameters: dict[str, Any], variables: dict[str, str]) -> str:
    text = re.sub(r"\$\{\{\s*trim\(parameters\.(\w+)\)\s*\}\}", lambda m: str(parameters[m[1]]).strip(), text)
    text = re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: str(parameters[m[1]]), text)
    return re.sub(r"\$\(([A-Za-z_][\w.]*)\)", lambda m: variables.get(m[1], m[0]), text)


@dataclass(frozen=True)
class Step:
    display_name: str
    condition: str
    script: str
    env: dict[str, str]


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job.get("steps") or job["strategy"]["runOnce"]["deploy"]["steps"]
    return steps


def _resolve(step: dict[str, Any], parameters: dict[str, Any]) -> Step:
    """A step of the pipeline (or of a template it uses) as the agent gets it, before macros."""
    if step.get("template") == "templates/report-run.yml":
        template = yaml.safe_load((PIPELINES / "templates" / "report-run.yml").read_text())
        defaults = {p["name"]: p.get("default", "") for p in template["parameters"]}
        inner = {**defaults, **step["parameters"]}
        [aks] = template["steps"]
        resolved = {"template": aks["template"], "parameters": _expand_all(aks["parameters"], inner)}
        return _resolve(resolved, parameters)
    if step.get("template", "").endswith("aks-script.yml"):
        p = step["parameters"]
        env = {k: str(v) for k, v in p.get("env", {}).items()}
        return Step(p["displayName"], p.get("condition", "succeeded()"), p["script"], env)
    if step.get("task") == "AzureCLI@2":
        env = {k: str(v) for k, v in step.get("env", {}).items()}
        return Step(step["displayName"], step.get("condition", "succeeded()"), step["inputs"]["inlineScript"], env)
    raise AssertionError(f"not a step this runner knows: {step}")


def _expand_all(node: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_all(v, parameters) for k, v in node.items()}
    if isinstance(node, str):
        return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: str(parameters[m[1]]), node)
    return node


def steps_of(stage: str, parameters: dict[str, Any]) -> list[Step]:
    pipeline = yaml.safe_load((PIPELINES / "retrain.yml").read_text())
    [found] = [s for s in pipeline["stages"] if s["stage"] == stage]
    [job] = found["jobs"]
    return [_resolve(step, parameters) for step in _steps(job) if "checkout" not in step]


def find_step(stage: str, parameters: dict[str, Any], starts: str, condition: str | None = None) -> Step:
    [step] = [
        s
        for s in steps_of(stage, parameters)
        if expand(s.display_name, parameters, {}).startswith(starts) and (condition is None or condition in s.condition)
    ]
    return step


def run_step(
    step: Step, parameters: dict[str, Any], variables: dict[str, str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one step; its outcome and the output variables it set."""
    script = "set -euo pipefail\n" + expand(step.script, parameters, variables)
    step_env = {k: expand(v, parameters, variables) for k, v in step.env.items()}
    result = subprocess.run(
        ["bash", "-c", script], env={**env, **step_env}, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    return result, dict(OUTPUT.findall(result.stdout))


def defaults() -> dict[str, Any]:
    """retrain.yml's parameters with their defaults."""
    pipeline = yaml.safe_load((PIPELINES / "retrain.yml").read_text())
    return {p["name"]: p.get("default", "") for p in pipeline["parameters"]}


DEPENDENCY = re.compile(r"^\$\[\s*stageDependencies\.(\w+)\.(\w+)\.outputs\['(\w+)\.(\w+)'\]\s*\]$")


def stage_variables(stage: str, outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """The variables of a stage and of its job that read earlier stages' outputs
    (``$[ stageDependencies.<stage>.<job>.outputs['<step>.<name>'] ]``), from ``outputs`` by
    ``"<stage>.<job>.<step>"``; an output never set is empty, as at run time."""
    pipeline = yaml.safe_load((PIPELINES / "retrain.yml").read_text())
    [found] = [s for s in pipeline["stages"] if s["stage"] == stage]
    [job] = found["jobs"]
    resolved = {}
    for name, expression in {**found.get("variables", {}), **job.get("variables", {})}.items():
        match = DEPENDENCY.match(expression)
        assert match, f"{stage}: variable {name} is not a stage dependency: {expression}"
        source, job_name, step, output = match.groups()
        resolved[name] = outputs.get(f"{source}.{job_name}.{step}", {}).get(output, "")
    return resolved
