"""Client generators nobody here wrote, pointed at the served OpenAPI document:
openapi-python-client must generate every operation, and its client must run the guide's
storefront and ERP flow against a served simulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import serving

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GENERATOR = shutil.which("openapi-python-client", path=str(BIN)) or shutil.which("openapi-python-client")
OPERATIONS = 9  # every operation of the vendor surface in the served document


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("served")) as base:
        yield base


OPENAPI_GENERATOR = shutil.which("openapi-generator-cli", path=str(BIN)) or shutil.which("openapi-generator-cli")
GUZZLE = Path("/usr/share/php/GuzzleHttp/autoload.php")


@pytest.mark.skipif(
    not (OPENAPI_GENERATOR and shutil.which("java") and shutil.which("php") and GUZZLE.is_file()),
    reason="needs Java, php-cli with php-curl and Debian's php-guzzlehttp-guzzle (.ci/run installs them)",
)
def test_openapi_generators_php_client_follows_every_cart_action(served: str, tmp_path: Path) -> None:
    """openapi-generator's PHP client has been seen to fold a union into one class and
    keep one member's payload: what it generates must still carry `line_item_quantity`
    of an update action, so a PHP shop can follow the cart loop."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(served + "/openapi.json").content)
    generated = subprocess.run(
        [
            str(OPENAPI_GENERATOR),
            "generate",
            "-i",
            str(document),
            "-g",
            "php",
            "-o",
            str(tmp_path / "php"),
            "--additional-properties=invokerPackage=Hakuna\\Client",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    loop = subprocess.run(
        [
            "php",
            str(ROOT / "tests" / "integration" / "generated_php" / "cart_loop.php"),
            str(tmp_path / "php"),
            served,
            "sk_test_phpgenerated01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loop.returncode == 0, loop.stdout + loop.stderr
    assert "cart loop ok" in loop.stdout


def python_client(url: str, folder: Path, package: str) -> list[str]:
    """openapi-python-client's client of the document at `url`, as `package` in `folder`:
    the names of its operation modules."""
    document = folder / f"{package}.json"
    document.write_bytes(httpx.get(url).content)
    generated = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none", "--output-path", str(folder / package)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # The generator names what it had to drop; only its note that ruff is missing may appear.
    assert "Could not" not in generated.stdout and "Invalid" not in generated.stdout, generated.stdout
    return sorted(p.stem for p in (folder / package / "api").rglob("*.py") if p.stem != "__init__")


@pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is part of the test extras")
def test_openapi_python_client_generates_every_operation_and_runs_the_guide_flow(served: str, tmp_path: Path) -> None:
    modules = python_client(served + "/openapi.json", tmp_path, "client")
    assert len(modules) == OPERATIONS, modules

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    flow = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "integration" / "generated_client_flow.py"), served, "sk_test_generated01"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "guide flow ok" in flow.stdout


@pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is in the test extras")
def test_openapi_python_client_generates_the_control_api_and_resets_a_key_with_it(served: str, tmp_path: Path) -> None:
    modules = python_client(served + "/__sim/openapi.json", tmp_path, "controls")
    assert len(modules) == 13, modules
    script = f"""
from controls import AuthenticatedClient
from controls.api.sandbox import reset_sandbox
from controls.api.setup import set_faults, get_faults
from controls.api.inspection import get_report
from controls.models import FaultInjection
client = AuthenticatedClient(base_url={served!r}, token="sk_test_generatedcontrols1")
assert reset_sandbox.sync(client=client).reset is True
rules = FaultInjection.from_dict({{"faults": [{{"route": "/sandbox/plans", "status": 429, "count": 1}}]}})
assert [r.route for r in set_faults.sync(client=client, body=rules).faults] == ["/sandbox/plans"]
assert get_faults.sync(client=client).faults[0].fired == 0
report = get_report.sync(client=client)
assert report.readiness.ready is False and report.summary.errors == 0
print("controls ok")
"""
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert run.returncode == 0 and "controls ok" in run.stdout, run.stdout + run.stderr
