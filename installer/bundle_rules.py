"""What the PyInstaller bundle leaves out. Shared by the spec file, the build script and tests.

Paths are the destination paths inside the bundle's ``_internal`` folder, with ``/``.
"""

from __future__ import annotations

# Modules never needed by the server. sympy and mpmath stay: torch's checks import them.
EXCLUDES = [
    "tkinter",
    "_tkinter",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "sip",
    "matplotlib",
    "IPython",
    "jupyter_client",
    "notebook",
    "pytest",
    "_pytest",
    "pytestqt",
    "hypothesis",
    "schemathesis",
    "werkzeug",
    "torchvision",
    "torchaudio",
    "tensorboard",
    "triton",
    "networkx",
    "jinja2",
    "rich",
    "pygments",
    "requests",
    "fsspec",
]

# Folders of torch that `import torch` and inference do not use.
DROP_PREFIXES = (
    "torch/include/",  # C++ headers (~60 MB)
    "torch/share/",  # CMake files
    "torch/test/",  # C++ test data
    "torchgen/packaged/",  # code-generation templates
)

# torch's C++ test programs and test-only libraries. torch_shm_manager must stay:
# DataLoader workers and shared-memory tensors need it.
KEEP_IN_TORCH_BIN = {"torch_shm_manager", "torch_shm_manager.exe"}
DROP_LIBS = {
    "libjitbackend_test.so",
    "libbackend_with_compiler.so",
    "libtorchbind_test.so",
    "libaoti_custom_ops.so",
    "jitbackend_test.dll",
    "backend_with_compiler.dll",
    "torchbind_test.dll",
    "aoti_custom_ops.dll",
}
DROP_SUFFIXES = (".a", ".pyi", ".h", ".hpp", ".cuh", ".cmake", ".lib")


def keep_entry(dest: str) -> bool:
    """False for a bundle entry that need not ship."""
    dest = dest.replace("\\", "/")
    name = dest.rsplit("/", 1)[-1]
    if dest.startswith(DROP_PREFIXES) or dest.endswith(DROP_SUFFIXES):
        return False
    if dest.startswith("torch/bin/") and name not in KEEP_IN_TORCH_BIN:
        return False
    if name in DROP_LIBS:
        return False
    parts = dest.split("/")
    # numpy's and PIL's own test suites
    return not (parts[0] in {"numpy", "PIL"} and "tests" in parts[1:-1])
