"""The process runner of long jobs: JSON progress, the one-line error, cancelling the whole process tree."""
import os
import signal
import sys
import time

import pytest

from CLAIMLib.runner import ProcessRunner, claim_command, library_env, parse_progress, remove_outputs, run
from conftest import alive, gone_soon

posix_only = pytest.mark.skipif(os.name != "posix", reason="checks process ids with os.kill(pid, 0) (POSIX)")

# A fake long job: writes partial outputs, prints JSON progress and plain lines, and, by mode, starts a sleeping
# grandchild (which shares its stdout pipe), ignores SIGTERM, fails like the CLI or crashes.
JOB = r'''
import json, os, pathlib, signal, subprocess, sys, time
mode, out, steps, delay = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
(out / "partial.nii").write_text("half written")
out.with_suffix(".json").write_text("{}")
print("CLAIM_PROGRESS=" + os.environ.get("CLAIM_PROGRESS", ""))
if mode in ("grandchild", "stubborn"):
    g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(json.dumps({"grandchild": g.pid}))
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps([1, 2]))
for i in range(steps + 1):
    print(json.dumps({"progress": i / steps, "stage": "working", "step": i}))
    print("step", i)
    time.sleep(delay)
if mode == "fail":
    print("some detail first", file=sys.stderr)
    print("claim: error: case.nii: not a label map", file=sys.stderr)
    print("a later line", file=sys.stderr)
    sys.exit(2)
if mode == "crash":
    raise SystemExit("boom: something broke")
print("done")
'''


@pytest.fixture
def job(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = tmp_path / "result.partial"

    def argv(mode, steps=5, delay=0.01):
        return [sys.executable, str(script), mode, str(out), str(steps), str(delay)]

    return argv, [out, out.with_suffix(".json")]


def poll_until(runner, condition, seconds=120.0):  # generous: a busy machine is slow, not wrong
    events = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events += runner.poll()
        if condition(events):
            return events
        time.sleep(0.01)
    raise AssertionError(f"condition not met in {seconds} s; events: {events[-5:]}")


def progress_values(events):
    return [e["progress"] for e in events if e["type"] == "progress"]


def grandchild_pid(events):
    for e in events:
        if e["type"] == "log" and e["line"].startswith('{"grandchild"'):
            return int(e["line"].split(":")[1].strip(" }"))
    return None


def test_successful_job_reports_progress_and_keeps_its_outputs(job):
    argv, outputs = job
    events = []
    finished = run(argv("ok"), on_event=events.append, outputs=outputs, env={"CLAIM_PROGRESS": "none"})
    assert finished == {"type": "finished", "returncode": 0, "error": None, "cancelled": False}
    assert events[-1] is finished and sum(e["type"] == "finished" for e in events) == 1
    values = progress_values(events)
    assert values == [i / 5 for i in range(6)] and values[-1] == 1.0
    first = next(e for e in events if e["type"] == "progress")
    assert first["stage"] == "working" and first["step"] == 0  # extra keys of the line are kept
    lines = [e["line"] for e in events if e["type"] == "log"]
    assert "CLAIM_PROGRESS=json" in lines  # forced, whatever the caller's environment says
    assert "[1, 2]" in lines and "step 3" in lines and lines[-1] == "done"  # JSON that is not progress is a log line
    assert all(p.exists() for p in outputs)


def test_progress_arrives_in_order_while_running(job):
    argv, outputs = job
    runner = ProcessRunner().start(argv("ok", steps=10, delay=0.03), outputs=outputs)
    assert runner.running and runner.returncode is None
    seen = []

    def done(events):
        seen.append(runner.progress)
        return events and events[-1]["type"] == "finished"

    values = progress_values(poll_until(runner, done))
    assert values == sorted(values) and len(set(values)) == 11
    assert seen == sorted(seen) and len(set(seen)) > 2  # the property follows the events as they come
    assert not runner.running and runner.returncode == 0 and runner.progress == 1.0 and runner.stage == "working"
    assert runner.error is None and not runner.cancelled
    assert runner.poll() == []  # finished is reported once


def test_failing_job_gives_the_cli_error_line_and_leaves_no_output(job):
    argv, outputs = job
    runner = ProcessRunner().start(argv("fail"), outputs=outputs)
    finished = runner.wait(timeout=120)
    assert finished["returncode"] == 2 and runner.returncode == 2 and not finished["cancelled"]
    assert finished["error"] == runner.error == "claim: error: case.nii: not a label map"
    assert not any(p.exists() for p in outputs)
    assert ("stderr", "a later line") in runner.log


def test_a_crash_reports_the_last_stderr_line(job):
    argv, outputs = job
    finished = run(argv("crash"), outputs=outputs, timeout=120)
    assert finished["returncode"] == 1 and finished["error"] == "boom: something broke"
    assert not any(p.exists() for p in outputs)


@posix_only
def test_cancel_kills_the_child_and_its_grandchild_and_removes_outputs(job):
    argv, outputs = job
    runner = ProcessRunner().start(argv("grandchild", steps=400, delay=0.05), outputs=outputs)
    events = poll_until(runner, lambda ev: grandchild_pid(ev) and progress_values(ev)[-3:] and
                        progress_values(ev)[-1] >= 0.01)
    child, grandchild = runner.pid, grandchild_pid(events)
    assert alive(grandchild) and all(p.exists() for p in outputs)
    runner.cancel()
    assert not runner.running and runner.cancelled
    assert runner.returncode == -15  # the tree stopped on SIGTERM: no need to escalate to SIGKILL
    assert gone_soon(child) and gone_soon(grandchild)
    assert not any(p.exists() for p in outputs)
    events += runner.poll()
    assert events[-1] == {"type": "finished", "returncode": runner.returncode, "error": None, "cancelled": True}
    assert runner.returncode != 0 and runner.error is None
    values = progress_values(events)
    assert values == sorted(values) and 0 < values[-1] < 1
    assert runner.poll() == [] and runner.cancel() is None  # cancelling twice is harmless


@posix_only
def test_cancel_escalates_to_sigkill_for_a_job_that_ignores_sigterm(job):
    argv, outputs = job
    runner = ProcessRunner(grace=0.3).start(argv("stubborn", steps=400, delay=0.05), outputs=outputs)
    events = poll_until(runner, lambda ev: grandchild_pid(ev) and progress_values(ev))
    child, grandchild = runner.pid, grandchild_pid(events)
    runner.cancel()
    assert gone_soon(child) and gone_soon(grandchild)
    assert runner.returncode == -9 and not any(p.exists() for p in outputs)


@posix_only
def test_a_grandchild_holding_the_pipes_does_not_hold_up_the_end(job):
    argv, outputs = job
    runner = ProcessRunner(linger=0.2).start(argv("grandchild", steps=2), outputs=outputs)
    try:
        events = poll_until(runner, lambda ev: ev and ev[-1]["type"] == "finished")
        assert events[-1]["returncode"] == 0 and progress_values(events)[-1] == 1.0
        assert all(p.exists() for p in outputs)
    finally:
        pid = grandchild_pid({"type": "log", "line": line} for _, line in runner.log)
        if pid:
            os.kill(pid, signal.SIGKILL)


def test_wait_timeout_cancels(job):
    argv, outputs = job
    runner = ProcessRunner().start(argv("ok", steps=400, delay=0.05), outputs=outputs)
    with pytest.raises(TimeoutError):
        runner.wait(timeout=0.5)
    assert runner.cancelled and not runner.running and not any(p.exists() for p in outputs)
    with pytest.raises(RuntimeError):  # one job at a time
        runner.start(argv("ok", steps=400, delay=0.05)).start(argv("ok"))
    runner.cancel()


def test_parse_progress_and_helpers(tmp_path):
    assert parse_progress('{"progress": 0.42, "stage": "sampling"}') == {"type": "progress", "progress": 0.42,
                                                                         "stage": "sampling"}
    assert parse_progress('{"progress": 1.7}')["progress"] == 1.0
    assert parse_progress('{"progress": -1, "stage": 3}') == {"type": "progress", "progress": 0.0, "stage": "3"}
    for line in ("", "step 1", "[0.5]", '{"stage": "x"}', '{"progress": "half"}', '{"progress": NaN}', "{oops}"):
        assert parse_progress(line) is None, line
    cmd = claim_command("phantom", "--out", tmp_path, python="PythonSlicer")
    assert cmd == ["PythonSlicer", "-m", "CLAIMLib", "phantom", "--out", str(tmp_path)]
    assert claim_command("info")[0] == sys.executable
    with pytest.raises(FileNotFoundError):
        ProcessRunner().start([str(tmp_path / "no-such-program")])
    assert library_env({"PYTHONPATH": "elsewhere"})["PYTHONPATH"].split(os.pathsep)[1] == "elsewhere"
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    assert sorted(remove_outputs([tmp_path / "d", tmp_path / "f", tmp_path / "missing"])) == sorted(
        [str(tmp_path / "d"), str(tmp_path / "f")])
    assert not (tmp_path / "d").exists() and not (tmp_path / "f").exists()


def test_the_real_cli_through_the_runner(tmp_path):
    out = tmp_path / "cohort.partial"
    events = []
    finished = run(claim_command("phantom", "--out", out, "--cases", 2, "--seed", 1), on_event=events.append,
                   env=library_env(), outputs=[out], timeout=120)
    assert finished["returncode"] == 0, finished
    values = progress_values(events)
    assert values == [0.0, 0.5, 1.0]
    assert {e["stage"] for e in events if e["type"] == "progress"} == {"phantom cohort"}
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2

    bad = tmp_path / "bad.partial"
    finished = run(claim_command("phantom", "--out", bad, "--cases", 0), env=library_env(), outputs=[bad],
                   timeout=120)
    assert finished["returncode"] == 2
    assert finished["error"] == "claim: error: --cases: must be at least 1 (got 0)"
    assert not bad.exists()
