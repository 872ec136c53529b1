"""The applications registry, on a real store with real bundles built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, NotFound
from jobstreamer.control_bus._bundle import read_bundle
from jobstreamer.control_bus.apps import InvalidSource
from tests._apps import HELLO
from tests.control_bus._domain import bus, greet_job, hello_zip, zipped

NAME = Keyword("application/name")
VERSION = Keyword("application/version")
VERSIONS = Keyword("application/versions")
TASKS = Keyword("version/tasks")
NEW = Keyword("version/new?")
CURRENT = Keyword("version/current?")

TASKS_PY = (
    "import os\n"
    "def run(n=1):\n    return n\n"
    "async def fetch():\n    return 1\n"
    "def _private():\n    pass\n"
    "class NotATask:\n    def method(self):\n        pass\n"
    "if True:\n    def conditional():\n        pass\n"
)


async def test_register_a_zip(tmp_path: Path) -> None:
    payload = hello_zip(tasks=TASKS_PY)
    async with bus(tmp_path) as b:
        version = await b.apps.register(payload, name="hello")
        expected = read_bundle(payload).version
        assert version[NAME] == "hello" and version[VERSION] == expected
        assert version[TASKS] == ["hello.tasks:fetch", "hello.tasks:run", "hello.util:helper"]
        assert version[NEW] is True and version[CURRENT] is True
        assert version[Keyword("version/size")] == len(payload)
        assert version[Keyword("version/modules")] == len(read_bundle(payload).modules)
        stored = tmp_path / "bundles" / f"{expected}.zip"
        assert stored.read_bytes() == payload
        assert not [p for p in stored.parent.iterdir() if p.name.startswith(".")]  # no temp left
        assert b.apps.current_version("hello") == expected


async def test_a_directory_is_stored_as_a_zip_with_the_same_version(tmp_path: Path) -> None:
    tree = tmp_path / "hello-src"
    for path, text in {
        **HELLO,
        "hello/__pycache__/tasks.cpython-311.pyc": "junk",
        ".git/HEAD": "x",
    }.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text)
    async with bus(tmp_path) as b:
        version = await b.apps.register(tree)  # named after its single top-level package
        assert version[NAME] == "hello"
        assert version[VERSION] == read_bundle(tree).version
        assert (
            read_bundle(tmp_path / "bundles" / f"{version[VERSION]}.zip").version
            == version[VERSION]
        )


async def test_a_wheel_is_named_by_its_metadata(tmp_path: Path) -> None:
    wheel = zipped(
        {
            "greeter/__init__.py": "def hi():\n    return 'hi'\n",
            "tools/__init__.py": "",
            "greeter-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: greeter\n",
            "greeter-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\n",
            "greeter-1.0.dist-info/RECORD": "greeter/__init__.py,,\n",
        }
    )
    async with bus(tmp_path) as b:
        version = await b.apps.register(wheel, filename="greeter-1.0-py3-none-any.whl")
        assert version[NAME] == "greeter"
        assert version[TASKS] == ["greeter:hi"]


async def test_the_name_comes_from_the_argument_then_the_bundle_then_the_file_name(
    tmp_path: Path,
) -> None:
    two_packages = zipped({"a/__init__.py": "", "b/__init__.py": ""})
    async with bus(tmp_path) as b:
        assert (await b.apps.register(hello_zip(), name="other"))[NAME] == "other"
        assert (await b.apps.register(two_packages, filename="uploads/pair.zip"))[NAME] == "pair"
        with pytest.raises(BadRequest) as unnamed:
            await b.apps.register(two_packages)
        assert unnamed.value.field == "name"
        with pytest.raises(BadRequest) as bad:
            await b.apps.register(two_packages, name="no spaces")
        assert bad.value.field == "name" and bad.value.status == 400


@pytest.mark.parametrize(
    ("path", "source", "line"),
    [
        ("hello/tasks.py", "def run(:\n    pass\n", 1),
        ("hello/util.py", "x = 1\n\nreturn x\n", 3),  # only the compiler sees this one
        ("scripts/my-tool.py", "print('a'\n", 1),  # not importable, still checked
    ],
)
async def test_a_file_that_does_not_compile_is_refused(
    tmp_path: Path, path: str, source: str, line: int
) -> None:
    async with bus(tmp_path) as b:
        good = await b.apps.register(hello_zip(), name="hello")
        broken = zipped({**HELLO, path: source})
        with pytest.raises(InvalidSource) as refused:
            await b.apps.register(broken, name="hello")
        assert refused.value.status == 400 and refused.value.field == "file"
        assert (refused.value.path, refused.value.line) == (path, line)
        assert f"{path}, line {line}" in refused.value.message
        # The previous version stays current, and nothing of the refused one is kept.
        assert b.apps.current_version("hello") == good[VERSION]
        assert len(b.apps.versions("hello")) == 1
        assert not (tmp_path / "bundles" / f"{read_bundle(broken).version}.zip").exists()


async def test_not_a_zip_is_a_bad_request(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        with pytest.raises(BadRequest):
            await b.apps.register(b"not a zip", name="hello")
        with pytest.raises(NotFound):
            b.apps.get("hello")


async def test_reuploads_and_versions(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        first = await b.apps.register(hello_zip(), name="hello")
        basis = b.store.db().basis_t
        again = await b.apps.register(hello_zip(), name="hello")
        assert again[NEW] is False and again[VERSION] == first[VERSION]
        assert b.store.db().basis_t == basis  # identical: nothing written

        second = await b.apps.register(hello_zip(tasks="def other():\n    pass\n"), name="hello")
        assert second[NEW] is True and b.apps.current_version("hello") == second[VERSION]
        versions = b.apps.versions("hello")
        assert [v[VERSION] for v in versions] == [second[VERSION], first[VERSION]]  # newest first
        assert [v[CURRENT] for v in versions] == [True, False]
        assert set(versions[0]) == {
            VERSION,
            Keyword("version/uploaded"),
            Keyword("version/size"),
            Keyword("version/modules"),
            TASKS,
            CURRENT,
        }

        # Uploading an older bundle again makes it current; it is not a new version.
        back = await b.apps.register(hello_zip(), name="hello")
        assert back[NEW] is False and b.apps.current_version("hello") == first[VERSION]
        assert len(b.apps.versions("hello")) == 2


async def test_list_and_get(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await b.apps.register(hello_zip(), name="zeta")
        await b.apps.register(hello_zip(), name="alpha")
        assert [a[NAME] for a in b.apps.list()] == ["alpha", "zeta"]
        app = b.apps.get("alpha")
        assert app[Keyword("application/tasks")] == [
            "hello.tasks:boom",
            "hello.tasks:run",
            "hello.util:helper",
        ]
        assert [v[VERSION] for v in app[VERSIONS]] == [app[VERSION]]
        for missing in (
            lambda: b.apps.get("nope"),
            lambda: b.apps.versions("nope"),
            lambda: b.apps.current_version("nope"),
        ):
            with pytest.raises(NotFound) as error:
                missing()
            assert error.value.status == 404


async def test_bundles_are_served_from_disk_and_cached(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    async with bus(tmp_path, path) as b:
        version = (await b.apps.register(hello_zip(), name="hello"))[VERSION]
    async with bus(tmp_path, path) as b:  # a restarted bus reads the zip back
        bundle = await b.apps.bundle("hello", version)
        assert bundle.version == version and "hello.tasks" in bundle.modules
        assert await b.apps.bundle("hello", version) is bundle
        with pytest.raises(NotFound):
            await b.apps.bundle("hello", "0" * 64)
        with pytest.raises(NotFound):
            await b.apps.bundle("other", version)


async def test_delete_waits_for_executions_and_keeps_versions(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        first = await b.apps.register(hello_zip(), name="hello")
        await b.jobs.put("hello", greet_job())
        execution = await b.executions.create("hello", "greet", {})
        with pytest.raises(Conflict) as busy:
            await b.apps.delete("hello")
        assert busy.value.status == 409
        await b.executions.mark(execution, Keyword("abandoned"))

        await b.apps.delete("hello")
        with pytest.raises(NotFound):
            b.apps.get("hello")
        assert b.store.db().entity(execution) is None
        with pytest.raises(NotFound):
            await b.apps.delete("hello")
        # The version outlives the app: an upload of the same bundle finds it again.
        again = await b.apps.register(hello_zip(), name="hello")
        assert again[NEW] is False and again[VERSION] == first[VERSION]
        assert b.jobs.list("hello")[Keyword("hits")] == 0
