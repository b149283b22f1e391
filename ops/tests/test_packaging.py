"""The web image never gets TensorFlow: requirement sets, Dockerfile targets and compose agree."""

import re
from pathlib import Path

import yaml
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
WORKER_ONLY = {"tensorflow", "tensorflow-cpu", "keras", "onnxruntime", "openvino", "torch"}


def requirement_names(path: Path) -> set[str]:
    """Package names a requirements file installs, following `-r` includes."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(path.parent / line[2:].strip())
        elif line:
            names.add(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def dockerfile_stages() -> dict[str, tuple[str, list[str]]]:
    """stage name → (the stage it builds FROM, the requirement files it pip-installs)."""
    stages: dict[str, tuple[str, list[str]]] = {}
    current = None
    # One instruction a line: continuation lines joined, as Docker reads them.
    instructions = re.sub(r"\\\n\s*", " ", (BASE_DIR / "Dockerfile").read_text()).splitlines()
    for line in instructions:
        if match := re.match(r"FROM (\S+) AS (\S+)", line):
            current = match[2]
            stages[current] = (match[1], [])
        elif current and line.startswith("RUN "):
            stages[current][1].extend(re.findall(r"pip install -r (\S+)", line))
    return stages


def installed_by(stages, name: str) -> list[str]:
    parent, files = stages[name]
    return (installed_by(stages, parent) if parent in stages else []) + files


def test_web_requirements_have_no_tensorflow_or_model_runtime():
    web = requirement_names(BASE_DIR / "requirements" / "web.txt")
    assert "django" in web and not web & WORKER_ONLY
    assert "tensorflow-cpu" in requirement_names(BASE_DIR / "requirements" / "worker.txt")


def test_the_quick_start_and_dev_sets_install_web_and_worker():
    everything = requirement_names(BASE_DIR / "requirements.txt")
    assert everything == requirement_names(
        BASE_DIR / "requirements" / "web.txt"
    ) | requirement_names(BASE_DIR / "requirements" / "worker.txt")
    assert everything <= requirement_names(BASE_DIR / "requirements-dev.txt")


def test_the_web_image_installs_only_the_web_set():
    stages = dockerfile_stages()
    assert installed_by(stages, "web") == ["requirements/web.txt"]
    assert installed_by(stages, "worker")[-1] == "requirements/worker.txt"
    assert list(stages)[-1] == "web", "a plain `docker build .` should give the web image"


def test_compose_builds_each_service_from_its_target():
    services = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]
    assert services["web"]["build"]["target"] == "web"
    assert services["worker"]["build"]["target"] == "worker"


def imported_distributions(folder: Path) -> dict[str, str]:
    """distribution → a module of `folder` (tests left out) that imports it, at any depth of
    the code (imports inside functions count: they run in production too)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    providers = packages_distributions()
    found: dict[str, str] = {}
    for path in folder.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or (BASE_DIR / top).is_dir():
                    continue
                for distribution in providers.get(top, [top]):
                    found.setdefault(distribution.lower(), str(path.relative_to(BASE_DIR)))
    return found


def test_the_worker_image_installs_every_package_the_worker_imports():
    """The accuracy gate's photos come from scikit-image and scikit-learn: a worker image
    without them fails at its first start (seen in the compose smoke test)."""
    worker = requirement_names(BASE_DIR / "requirements" / "worker.txt")
    # Installed by the packages that are pinned, not imported under their own name.
    worker |= {"tensorflow", "tf-keras", "keras", "tensorboard", "tf_keras"}
    missing = {
        distribution: module
        for distribution, module in imported_distributions(BASE_DIR / "mlworker").items()
        if distribution.replace("_", "-") not in {name.replace("_", "-") for name in worker}
    }
    assert not missing, f"imported by the worker, not in requirements/worker.txt: {missing}"
