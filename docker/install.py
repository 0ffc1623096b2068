"""Install one image's packages into the running interpreter's environment, in two cached steps.

The Dockerfiles and ``docker/check_images.py`` both run this script with the same list file
(``docker/images/<service>.txt``), so what CI proves installable is exactly what the image holds.

    python docker/install.py deps docker/images/scoring.txt   # third-party dependencies only
    python docker/install.py code docker/images/scoring.txt   # our packages, --no-deps, then pip check

``deps`` needs only the pyproject.toml files, so the Dockerfile copies those first and the heavy
dependency layer is rebuilt only when a dependency changes, not on every code edit. The list names
local package directories (relative to the repository root), one per line, optionally with extras
(``services/common[train]``); extras asked for by a listed package's own dependencies on another
listed package (``driftloop[train]``) are followed too. Standard library only: it runs before
anything is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?(?P<rest>.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, set[str], str]:
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise SystemExit(f"install.py: cannot parse requirement {requirement!r}")
    extras = {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
    return _normalise(match["name"]), extras, match["rest"]


def read_list(list_file: Path, root: Path) -> list[tuple[Path, set[str]]]:
    """The package directories (with extras) that a list file names, in order."""
    packages = []
    for line in list_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        directory, _, extras = line.partition("[")
        packages.append((root / directory, {e.strip() for e in extras.rstrip("]").split(",") if e.strip()}))
    if not packages:
        raise SystemExit(f"install.py: {list_file} names no package")
    return packages


def third_party_requirements(packages: list[tuple[Path, set[str]]]) -> list[str]:
    """Every dependency of the listed packages that is not itself one of them, extras followed."""
    projects = {}
    for directory, _ in packages:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        projects[_normalise(project["name"])] = project
    wanted: dict[str, set[str]] = {name: set() for name in projects}
    for (_directory, extras), name in zip(packages, projects, strict=True):
        wanted[name] |= extras

    requirements: list[str] = []
    seen: set[tuple[str, str]] = set()
    pending = list(wanted)
    while pending:
        name = pending.pop(0)
        project = projects[name]
        declared = list(project.get("dependencies", []))
        for extra in sorted(wanted[name]):
            declared += project.get("optional-dependencies", {}).get(extra, [])
        for requirement in declared:
            dep, extras, _ = _split(requirement)
            if dep in projects:
                if not extras <= wanted[dep]:
                    wanted[dep] |= extras
                    pending.append(dep)
                continue
            key = (dep, requirement)
            if key not in seen:
                seen.add(key)
                requirements.append(requirement)
    return requirements


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--no-input", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in {"deps", "code"}:
        raise SystemExit("usage: python docker/install.py (deps|code) docker/images/<service>.txt")
    step, list_file = argv[0], Path(argv[1])
    root = list_file.resolve().parent.parent.parent
    packages = read_list(list_file, root)
    if step == "deps":
        pip(*third_party_requirements(packages))
    else:
        # Dependencies are already in place: a missing one must fail `pip check`, not be fetched here.
        pip("--no-deps", *(str(directory) for directory, _ in packages))
        subprocess.run([sys.executable, "-m", "pip", "check"], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
