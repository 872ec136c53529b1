"""The import loader, against a real CodeServer through an in-memory client."""

from __future__ import annotations

import importlib
import importlib.resources
import sys
import traceback
from collections.abc import Iterator

import pytest

from jobstreamer.agent.loader import CodeFetchError, CodeLoader
from jobstreamer.common.wire import code
from tests._apps import HELLO, Bundles, InMemoryCodeClient, bundle, hello


@pytest.fixture
def bundles() -> Bundles:
    return Bundles()


@pytest.fixture
def client(bundles: Bundles) -> InMemoryCodeClient:
    return InMemoryCodeClient(bundles)


@pytest.fixture
def loader(client: InMemoryCodeClient) -> Iterator[CodeLoader]:
    loader = CodeLoader(client)
    yield loader
    loader.deactivate()
    assert "hello" not in sys.modules


def test_packages_subpackages_and_relative_imports(bundles: Bundles, loader: CodeLoader) -> None:
    version = bundles.add("hello", hello())
    loader.activate("hello", version)
    tasks = importlib.import_module("hello.tasks")
    assert tasks.run(3) == {"doubled": 6, "depth": 42, "version": 1}
    assert tasks.__file__ == f"<app hello@{version[:8]}>/hello/tasks.py"
    assert tasks.__package__ == "hello"
    package = sys.modules["hello"]
    assert package.GREETING == "hello"
    assert package.__path__ == [f"<app hello@{version[:8]}>/hello"]
    assert sys.modules["hello.sub.deep"].DEPTH == 42
    with pytest.raises(ModuleNotFoundError, match="hello.nope"):
        importlib.import_module("hello.nope")


def test_tracebacks_name_the_app_file_line_and_source(bundles: Bundles, loader: CodeLoader) -> None:
    version = bundles.add("hello", hello())
    loader.activate("hello", version)
    tasks = importlib.import_module("hello.tasks")
    with pytest.raises(ValueError) as caught:
        tasks.boom()
    text = "".join(traceback.format_exception(caught.value))
    assert f'File "<app hello@{version[:8]}>/hello/tasks.py", line 9, in boom' in text
    assert "raise ValueError('kaboom')" in text


def test_only_app_names_are_asked_of_the_bus(
    bundles: Bundles, client: InMemoryCodeClient, loader: CodeLoader
) -> None:
    version = bundles.add("hello", hello())
    importer = loader.activate("hello", version)
    assert importer.owned == {"hello"}
    assert importer.find_spec("json") is None
    assert importer.find_spec("hellothere") is None
    importlib.import_module("hello.tasks")
    importlib.import_module("xml.dom.minidom")
    # One bundle request; every later import was answered from memory.
    assert [type(r) for r in client.requests] == [code.BundleRequest]


def test_stdlib_names_are_never_claimed(bundles: Bundles, loader: CodeLoader) -> None:
    version = bundles.add("shadow", bundle({"json.py": "BROKEN = True\n", "mine.py": "import json\n"}))
    importer = loader.activate("shadow", version)
    assert importer.owned == {"mine"}
    assert importlib.import_module("mine").json is sys.modules["json"]
    assert not hasattr(sys.modules["json"], "BROKEN")
    loader.deactivate()
    assert "json" in sys.modules


def test_a_new_version_sends_held_digests_and_gets_has_latest(
    bundles: Bundles, client: InMemoryCodeClient, loader: CodeLoader
) -> None:
    v1 = bundles.add("hello", hello())
    v2 = bundles.add("hello", hello(tasks=HELLO["hello/tasks.py"].replace("VERSION = 1", "VERSION = 2")))
    loader.activate("hello", v1)
    loader.activate("hello", v2)
    first, second = client.requests
    assert isinstance(second, code.BundleRequest) and set(second.digests) == set(hello().modules)
    reply = client.replies[1]
    assert isinstance(reply, code.Bundle)
    kinds = {entry.module: entry.kind for entry in reply.modules}
    assert kinds == {
        "hello": "has-latest",
        "hello.sub": "has-latest",
        "hello.sub.deep": "has-latest",
        "hello.tasks": "module",
        "hello.util": "has-latest",
    }
    tasks = importlib.import_module("hello.tasks")
    assert tasks.run(1) == {"doubled": 2, "depth": 42, "version": 2}  # unchanged modules from memory


def test_switching_versions_purges_the_apps_modules(
    bundles: Bundles, client: InMemoryCodeClient, loader: CodeLoader
) -> None:
    v1 = bundles.add("hello", hello())
    v2 = bundles.add("hello", hello(tasks="VERSION = 2\n"))
    loader.activate("hello", v1)
    assert importlib.import_module("hello.tasks").VERSION == 1
    assert loader.activate("hello", v1) is loader.active  # same version: modules kept
    assert "hello.tasks" in sys.modules
    loader.activate("hello", v2)
    assert not [name for name in sys.modules if name == "hello" or name.startswith("hello.")]
    assert importlib.import_module("hello.tasks").VERSION == 2
    loader.activate("hello", v1)
    assert importlib.import_module("hello.tasks").VERSION == 1
    assert len(client.requests) == 2  # v1 again came from memory


def test_two_apps_with_one_top_level_name_stay_apart(
    bundles: Bundles, client: InMemoryCodeClient, loader: CodeLoader
) -> None:
    a = bundles.add("app-a", bundle({"common/__init__.py": "OWNER = 'a'\n"}))
    b = bundles.add("app-b", bundle({"common/__init__.py": "OWNER = 'b'\n", "common/only_b.py": ""}))
    for app, version, owner in [("app-a", a, "a"), ("app-b", b, "b"), ("app-a", a, "a")]:
        loader.activate(app, version)
        assert importlib.import_module("common").OWNER == owner
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("common.only_b")
    loader.deactivate()
    assert "common" not in sys.modules


def test_resources_are_read_from_the_bundle(bundles: Bundles, loader: CodeLoader) -> None:
    loader.activate("hello", bundles.add("hello", hello()))
    files = importlib.resources.files("hello")
    assert (files / "data" / "greeting.txt").read_text() == "hi there\n"
    assert sorted(p.name for p in files.iterdir()) == ["__init__.py", "data", "sub", "tasks.py", "util.py"]
    assert (files / "tasks.py").read_bytes().startswith(b"from .util")


def test_namespace_packages_and_the_src_layout(bundles: Bundles, loader: CodeLoader) -> None:
    files = {
        "pyproject.toml": "",
        "src/etl/__init__.py": "",
        "src/etl/jobs.py": "from tools import cli\n",
        "src/tools/cli.py": "X = 1\n",
    }
    version = bundles.add("etl", bundle(files))
    loader.activate("etl", version)
    jobs = importlib.import_module("etl.jobs")
    assert jobs.cli.X == 1
    assert jobs.__file__ == f"<app etl@{version[:8]}>/src/etl/jobs.py"
    assert not hasattr(sys.modules["tools"], "__file__")  # a namespace package has none
    loader.deactivate()
    assert "tools" not in sys.modules and "etl" not in sys.modules


def test_an_unknown_version_is_a_404(loader: CodeLoader) -> None:
    with pytest.raises(CodeFetchError, match="no version nope of application hello") as caught:
        loader.activate("hello", "nope")
    assert caught.value.status == 404
    assert loader.active is None
