"""Reading application bundles: directories, zips of source trees, wheels."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from jobstreamer.common.errors import BadRequest
from jobstreamer.control_bus._bundle import ModuleEntry, read_bundle

TREE = {
    "hello/__init__.py": b"",
    "hello/tasks.py": b"def run():\n    return 1\n",
    "hello/sub/__init__.py": b"",
    "hello/sub/deep.py": b"X = 1\n",
    "hello/data/greeting.txt": b"hi\n",
    "scripts/tool.py": b"",
    "my-scripts/run.py": b"",
    "pyproject.toml": b'[project]\nname = "hello-app"\n',
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def zip_bytes(files: dict[str, bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for rel, data in files.items():
            archive.writestr(prefix + rel, data)
    return buffer.getvalue()


def test_directory_and_zip_of_it_get_one_version(tmp_path: Path) -> None:
    from_dir = read_bundle(write_tree(tmp_path / "app", TREE))
    assert read_bundle(zip_bytes(TREE)).version == from_dir.version
    # `zip -r app.zip hello-1.0/` wraps the tree in a directory: unwrapped.
    assert read_bundle(zip_bytes(TREE, prefix="hello-1.0/")).version == from_dir.version
    zip_path = tmp_path / "app.zip"
    zip_path.write_bytes(zip_bytes(TREE))
    assert read_bundle(zip_path).version == from_dir.version
    assert len(from_dir.version) == 64


def test_version_changes_with_content_and_paths() -> None:
    base = read_bundle(zip_bytes(TREE)).version
    assert read_bundle(zip_bytes({**TREE, "hello/tasks.py": b"def run():\n    return 2\n"})).version != base
    moved = {("hello/tasks2.py" if k == "hello/tasks.py" else k): v for k, v in TREE.items()}
    assert read_bundle(zip_bytes(moved)).version != base


def test_hidden_files_and_bytecode_are_ignored(tmp_path: Path) -> None:
    base = read_bundle(write_tree(tmp_path / "a", TREE))
    noisy = {
        **TREE,
        ".git/HEAD": b"ref: refs/heads/main\n",
        ".env": b"SECRET=1\n",
        "hello/.DS_Store": b"\0",
        "hello/__pycache__/tasks.cpython-311.pyc": b"\0\0",
        "hello/stale.pyc": b"\0",
    }
    bundle = read_bundle(write_tree(tmp_path / "b", noisy))
    assert bundle.version == base.version
    assert set(bundle.files) == set(TREE)
    assert read_bundle(zip_bytes(noisy)).version == base.version


def test_module_table() -> None:
    bundle = read_bundle(zip_bytes(TREE))
    assert bundle.modules == {
        "hello": ModuleEntry("hello/__init__.py", True),
        "hello.sub": ModuleEntry("hello/sub/__init__.py", True),
        "hello.sub.deep": ModuleEntry("hello/sub/deep.py", False),
        "hello.tasks": ModuleEntry("hello/tasks.py", False),
        "scripts": ModuleEntry("scripts/", True),  # a namespace package
        "scripts.tool": ModuleEntry("scripts/tool.py", False),
    }  # hello/data/ holds no module, so it is no package; my-scripts/ is no identifier
    assert bundle.top_level == {"hello", "scripts"}
    assert bundle.declared_name == "hello-app"
    assert set(bundle.resources) == {"hello/data/greeting.txt", "my-scripts/run.py", "pyproject.toml"}
    assert bundle.source_bytes("hello.tasks") == TREE["hello/tasks.py"]
    assert bundle.source_bytes("scripts") == b""


def test_src_layout_and_single_module_apps() -> None:
    src = read_bundle(zip_bytes({"src/etl/__init__.py": b"", "src/etl/jobs.py": b"", "tests/test_x.py": b""}))
    assert set(src.modules) == {"etl", "etl.jobs"}
    assert src.modules["etl.jobs"].path == "src/etl/jobs.py"
    assert src.declared_name == "etl"
    single = read_bundle(zip_bytes({"tasks.py": b"def run(): pass\n", "README": b""}))
    assert single.top_level == {"tasks"}
    assert single.declared_name is None


def wheel(record: bytes = b"hello/tasks.py,sha256=x,1\n") -> bytes:
    return zip_bytes(
        {
            "hello/__init__.py": b"",
            "hello/tasks.py": b"def run():\n    return 1\n",
            "hello_app-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: hello-app\nVersion: 1.0\n",
            "hello_app-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
            "hello_app-1.0.dist-info/RECORD": record,
        }
    )


def test_wheel() -> None:
    bundle = read_bundle(wheel())
    assert bundle.declared_name == "hello-app"
    assert set(bundle.modules) == {"hello", "hello.tasks"}
    assert "hello_app-1.0.dist-info/RECORD" not in bundle.files
    assert "hello_app-1.0.dist-info/METADATA" in bundle.files
    # RECORD only restates the other files' hashes: it does not make a version.
    assert read_bundle(wheel(record=b"other\n")).version == bundle.version


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not a zip", "not a zip file"),
        (zip_bytes({"../evil.py": b""}), "unsafe path"),
        (zip_bytes({".git/HEAD": b""}), "holds no files"),
    ],
)
def test_bad_bundles_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        read_bundle(data)
    assert caught.value.status == 400
