"""A tracking server that does not answer is said in one line within seconds (MLflow's own client retries
for about four minutes), before the job reads an image; one that answers is left to MLflow."""

import http.server
import socket
import threading

import pytest

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.runs.tracking import check_tracking_server
from sweeplab.training.job import run


def closed_port() -> int:
    """A loopback port nothing listens on once the probe closes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server():
    """A loopback HTTP server answering GET /health with 200 and anything else with 404; its paths."""
    asked: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()


def test_a_job_with_no_server_at_its_tracking_uri_stops_in_one_line_before_its_data(tiny_overrides, tmp_path):
    port = closed_port()
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(ConfigError) as refused:
        run(compose_config([*tiny_overrides, f"tracking.uri={uri}"]), output_dir=tmp_path / "out")
    assert str(refused.value) == (
        f"tracking.uri={uri}: no MLflow server answers there ([Errno 111] Connection refused); start one "
        f"with `mlflow server --host 127.0.0.1 --port {port}`, or leave tracking.uri unset for the local "
        "store ./mlruns"
    )
    assert not (tmp_path / "cache").exists()  # refused before any image was read


def test_a_password_in_the_uri_is_never_said_nor_sent(server):
    port = closed_port()
    with pytest.raises(ConfigError, match=r"http://lab:\*\*\*@127\.0\.0\.1") as refused:
        check_tracking_server(f"http://lab:s3cret@127.0.0.1:{port}")
    assert "s3cret" not in str(refused.value)
    url, asked = server
    check_tracking_server(url.replace("http://", "http://lab:s3cret@") + "/prefix/")  # answered: no error
    assert asked == ["/prefix/health"]


@pytest.mark.parametrize("path", ["", "/mlflow"])
def test_a_server_that_answers_is_left_to_mlflow(server, path):
    url, asked = server
    check_tracking_server(url + path)  # 200 on /health, 404 under /mlflow: both answered
    assert asked == [f"{path}/health"]


def test_a_local_store_needs_no_check(tmp_path):
    check_tracking_server(f"sqlite:///{tmp_path / 'mlflow.db'}")
    check_tracking_server(str(tmp_path / "mlruns"))


def test_the_uri_of_mlflows_environment_variable_is_checked_as_such(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ConfigError, match=r"^\$MLFLOW_TRACKING_URI=http://127\.0\.0\.1:\d+: no MLflow"):
        check_tracking_server(None)
    check_tracking_server("sqlite:///elsewhere.db")  # a configured local store wins over the variable
