"""What a user installs: the wheel carries the license and the PEP 561 marker, and the package
runs as ``python -m textmix``."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_license_and_py_typed(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path), "-q"], capture_output=True, text=True)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("textmix-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "textmix/py.typed" in names and "vision/py.typed" in names
    license_file = next(n for n in names if n.endswith("licenses/LICENSE"))
    assert "Apache License" in zipfile.ZipFile(wheel).read(license_file).decode()
    assert "Apache License" in (REPO / "LICENSE").read_text()


def test_python_dash_m_textmix_is_the_textmix_command():
    result = subprocess.run([sys.executable, "-m", "textmix", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: textmix" in result.stdout, result.stderr[-2000:]
    for command in ("train", "calibrate", "predict", "report", "sweep"):
        assert command in result.stdout
