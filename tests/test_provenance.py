"""Every run records the code that measured it: Twinbench's version, and in a git checkout its commit
and whether it had uncommitted changes (core.provenance); the Compare page says so (core.views.environment)."""

import subprocess

import core
from core.provenance import PROVENANCE_FIELDS, checkout_state, provenance
from core.views.environment import code_description, code_note


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_outside_a_checkout_there_is_no_commit(tmp_path):
    assert checkout_state(tmp_path) == (None, None)


def test_a_checkout_gives_its_commit_and_whether_tracked_files_changed(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "add", "code.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    commit = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "output.txt").write_text("not code")  # untracked: the code is still the commit's
    assert checkout_state(tmp_path) == (commit, False)
    (tmp_path / "code.py").write_text("x = 2\n")
    assert checkout_state(tmp_path) == (commit, True)
    # A folder inside another repository is not a checkout of its own.
    (tmp_path / "inner").mkdir()
    assert checkout_state(tmp_path / "inner") == (None, None)


def test_the_record_names_the_harness_version_its_commit_and_state():
    recorded = provenance()
    assert tuple(recorded) == PROVENANCE_FIELDS and recorded["twinbench_version"] == core.__version__


def test_the_compare_caption_names_each_different_code_once():
    clean = {"twinbench_version": "0.1.0", "git_commit": "a" * 40, "git_dirty": False}
    dirty = {**clean, "git_dirty": True}
    assert code_description(clean) == f"Twinbench 0.1.0, commit {'a' * 12}"
    assert code_description({**clean, "git_commit": None, "git_dirty": None}) == "Twinbench 0.1.0"
    assert code_description({"device": "cpu"}) == ""  # stored before runs recorded their code
    runs = [{"environment": clean}, {"environment": clean}, {"environment": dirty}, {"environment": None}]
    assert code_note({"runs": runs}) == (f" · Twinbench 0.1.0, commit {'a' * 12}"
                                         f" · Twinbench 0.1.0, commit {'a' * 12} with uncommitted changes")
    assert code_note({"runs": [{"environment": {"device": "cpu"}}]}) == ""
