"""The distribution installs one top-level name, ``das``, and nothing generic."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("engine", "sandbox", "program_store", "detectors", "collab")


def test_the_wheel_holds_only_the_das_namespace(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob("das-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"das"}
    for part in PARTS:  # every part is there, with its data files
        assert f"das/{part}/__init__.py" in names
    assert any(name.startswith("das/engine/corpus/responses/") for name in names)
    assert "das/collab/bundled_programs.json" in names


def test_from_das_import_enhanced_detector_and_no_generic_names(tmp_path):
    code = ("import importlib.util as u\n"
            "from das import EnhancedDetector\n"
            f"print([p for p in {PARTS!r} if u.find_spec(p) is not None])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_no_module_imports_a_bare_part_name():
    offenders = []
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                words = line.split()
                if words[:1] in (["from"], ["import"]) and len(words) > 1 \
                        and words[1].split(".")[0] in PARTS:
                    offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []
