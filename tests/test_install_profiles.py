"""The install profiles: requirements.txt is the one source of versions, and the hosted profile
(cloud/requirements.txt) reads it as pip constraints, which must therefore be constraints pip takes."""

import subprocess
import sys

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT_ROOT


def requirement_lines(path):
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            yield line


def test_the_full_profile_names_no_extras_so_that_it_works_as_constraints():
    for line in requirement_lines(PROJECT_ROOT / "requirements.txt"):
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise AssertionError(f"requirements.txt: {line!r}: {error}") from None
        assert not requirement.extras, f"requirements.txt: {line!r} has extras, which pip refuses in constraints"


def test_every_hosted_package_is_versioned_by_the_full_profile():
    full = {canonicalize_name(Requirement(line).name) for line in requirement_lines(PROJECT_ROOT / "requirements.txt")}
    hosted = [Requirement(line) for line in requirement_lines(PROJECT_ROOT / "cloud" / "requirements.txt")]
    # tensorflow-cpu is its own package (docs/deploy.md keeps its version equal to tensorflow's by hand).
    missing = [str(r) for r in hosted if canonicalize_name(r.name) not in full and r.name != "tensorflow-cpu"]
    assert missing == []
    for requirement in hosted:  # each extra's packages are named in the full profile too
        if requirement.extras:
            assert {"binary": {"psycopg-binary"}, "client": {"grpcio"}}[next(iter(requirement.extras))] <= full


def test_pip_takes_the_full_profile_as_constraints():
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet", "--disable-pip-version-check",
         "-c", str(PROJECT_ROOT / "requirements.txt"), "sqlalchemy"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
