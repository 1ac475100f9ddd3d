"""`nnscope serve` as a user runs it: a subprocess that prints its URL, answers, and stops on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nnscope.errors import NnscopeError
from nnscope.serve.server import bind, host_warning

SRC = Path(__file__).resolve().parents[2] / "src"


def nnscope(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "nnscope", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_only_loopback_hosts_go_without_a_warning():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert host_warning(host) is None, host
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        assert host_warning(host).startswith(f"warning: serving on {host}: other machines"), host


def test_a_busy_port_and_a_bad_port_are_clear_errors():
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(NnscopeError, match=r"^--port: cannot listen on 127.0.0.1 port \d+"):
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
    with pytest.raises(NnscopeError, match=r"^--port: 70000; expected a port number"):
        bind("127.0.0.1", 70000)


def test_a_missing_checkpoint_is_one_line_and_exit_code_2(tmp_path):
    process = nnscope("serve", "--checkpoint", str(tmp_path / "none.pt"), "--port", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == ""
    assert err.strip().startswith("nnscope serve: error:") and len(err.strip().splitlines()) == 1


def test_a_bad_port_is_named_before_the_checkpoint_is_read(tmp_path):
    process = nnscope("serve", "--checkpoint", str(tmp_path / "none.pt"), "--port", "99999")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == ""
    assert err.strip() == "nnscope serve: error: --port: 99999; expected a port number from 0 to 65535 (0: any free port)"


@pytest.mark.slow
def test_serve_prints_its_url_as_json_answers_and_stops_on_ctrl_c(trained_checkpoint):
    process = nnscope("serve", "--checkpoint", str(trained_checkpoint), "--port", "0", "--json")
    try:
        started = json.loads(process.stdout.readline())
        assert started["url"] == f"http://127.0.0.1:{started['port']}/" and started["host"] == "127.0.0.1"
        assert httpx.get(started["url"] + "api/model", timeout=30).json()["input_shape"] == [1, 28, 28]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert out == ""  # the one JSON document was the line read above
    assert "Traceback" not in err and "stopped" in err
