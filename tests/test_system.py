from core.engine.system import SMALL_HOST_BYTES, expectations, installed_versions
from tests.conftest import PROJECT_ROOT

GPU = {"index": 0, "name": "NVIDIA H100", "memory_total_bytes": 80 * 2**30, "memory_used_bytes": 0}


def test_a_cpu_only_machine_is_told_to_start_with_a_subset():
    notes = expectations({"host_memory_bytes": 24 * 2**30}, [])
    assert len(notes) == 1 and "No GPU" in notes[0] and "Max images" in notes[0]


def test_a_small_host_like_community_cloud_is_warned_about_memory():
    notes = expectations({"host_memory_bytes": int(2.7 * 10**9)}, [GPU])
    assert len(notes) == 1 and "2.5 GiB" in notes[0] and "one comparison at a time" in notes[0]
    assert expectations({"host_memory_bytes": SMALL_HOST_BYTES}, [GPU]) == []


def test_versions_shown_are_the_pinned_ones_installed():
    pins = dict(line.split("==") for line in (PROJECT_ROOT / "requirements.txt").read_text().split()
                if "==" in line)
    versions = installed_versions()
    for package in ("torch", "tensorflow", "streamlit"):
        assert versions[package].split("+")[0] == pins[package]
