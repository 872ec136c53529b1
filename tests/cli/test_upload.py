from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from jobstreamer.common.cli.up import demo_directory
from jobstreamer.common.edn import Keyword as K

from ._fake_bus import FakeBus
from .conftest import Invoke

UPLOADED = {K("application/name"): "hello", K("application/version"): "abc123", K("version/new?"): True,
            K("application/tasks"): ["hello.tasks:greet"]}


def test_a_directory_is_zipped_without_caches(jobstreamer: Invoke, bus: FakeBus, tmp_path: Path) -> None:
    (tmp_path / "hello" / "__pycache__").mkdir(parents=True)
    (tmp_path / "hello" / "__init__.py").write_text("")
    (tmp_path / "hello" / "tasks.py").write_text("def greet(): pass\n")
    (tmp_path / "hello" / "__pycache__" / "tasks.cpython-311.pyc").write_bytes(b"\0")
    bus.reply("POST", "/apps", UPLOADED, status=201)
    result = jobstreamer("apps", "upload", str(tmp_path), "--name", "hello")
    assert result.exit_code == 0, result.output
    assert "hello.tasks:greet" in result.stdout and "a new version" in result.stdout
    [sent] = bus.requests("POST", "/apps")
    assert sent.path_qs == "/apps?name=hello"
    assert sent.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(sent.body)).namelist()
    assert sorted(names) == ["hello/__init__.py", "hello/tasks.py"]


def test_a_wheel_goes_as_it_is(jobstreamer: Invoke, bus: FakeBus, tmp_path: Path) -> None:
    wheel = tmp_path / "hello-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("hello/__init__.py", "")
    bus.reply("POST", "/apps", UPLOADED)
    result = jobstreamer("apps", "upload", str(wheel), "--json")
    assert json.loads(result.stdout)["application/version"] == "abc123"
    [sent] = bus.requests("POST", "/apps")
    assert sent.path_qs == "/apps"  # the bus reads the name from the wheel
    assert sent.body == wheel.read_bytes()


def test_jobs_put_sends_each_job_of_an_edn_vector(jobstreamer: Invoke, bus: FakeBus, tmp_path: Path) -> None:
    file = tmp_path / "jobs.edn"
    file.write_text('[{:job/name "a" :job/steps []} {:job/name "b" :job/steps []}]')
    bus.routes[("POST", "/hello/jobs")] = lambda seen: (201, seen.data())
    result = jobstreamer("jobs", "put", str(file), "--app", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["job a saved", "job b saved"]
    assert [s.data()[K("job/name")] for s in bus.requests("POST", "/hello/jobs")] == ["a", "b"]


def test_jobs_put_reads_json(jobstreamer: Invoke, bus: FakeBus, tmp_path: Path) -> None:
    file = tmp_path / "job.json"
    file.write_text('{"job/name": "a", "job/steps": [{"step/name": "s", "step/task": "m:f"}]}')
    bus.routes[("POST", "/hello/jobs")] = lambda seen: (201, seen.data())
    assert jobstreamer("jobs", "put", str(file), "--app", "hello").exit_code == 0
    [sent] = bus.requests("POST", "/hello/jobs")
    assert sent.data()[K("job/steps")][0][K("step/task")] == "m:f"


def test_names_in_paths_are_quoted(jobstreamer: Invoke, bus: FakeBus) -> None:
    jobstreamer("jobs", "list", "my app")
    assert bus.seen[-1].path_qs.startswith("/my%20app/jobs?")


def test_the_demo_is_found_in_the_repository() -> None:
    demo = demo_directory()
    assert demo is not None
    assert (demo / "hello" / "tasks.py").is_file()


def test_the_demo_job_names_the_demo_task(jobstreamer: Invoke, bus: FakeBus) -> None:
    demo = demo_directory()
    assert demo is not None
    bus.routes[("POST", "/hello/jobs")] = lambda seen: (201, seen.data())
    assert jobstreamer("jobs", "put", str(demo / "jobs.edn"), "--app", "hello").exit_code == 0
    [sent] = bus.requests("POST", "/hello/jobs")
    assert sent.data()[K("job/name")] == "greet"
    assert sent.data()[K("job/steps")][0][K("step/task")] == "hello.tasks:greet"


def test_zipping_a_directory_loads_neither_the_store_nor_the_bus(tmp_path: Path) -> None:
    # `apps upload DIR` is a client command: importing the store costs ~170 ms.
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "__init__.py").write_text("")
    script = (
        "import sys\n"
        "from jobstreamer.common.cli._apps import bundle_bytes\n"
        "assert bundle_bytes(__import__('pathlib').Path(sys.argv[1]))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('jobstreamer.common.store', 'jobstreamer.control_bus.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['jobstreamer.control_bus._bundle']"
