"""Where the published schemas and the default fixtures are.

In the repository they are top-level folders (`schemas/`, `fixtures/`); a built wheel
carries them inside the package (see `force-include` in pyproject.toml), so an installed
`hakuna-sim` finds them from any working directory.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # simulator/


def _locate(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"hakuna-sim is installed without its {name}/ folder (looked in {_PACKAGE})")


def schemas_dir() -> Path:
    return _locate("schemas")


def fixtures_dir() -> Path:
    return _locate("fixtures")


def default_catalog_path() -> Path:
    return fixtures_dir() / "catalog.json"
