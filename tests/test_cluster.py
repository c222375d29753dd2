"""Experts on a real local Ray cluster (127.0.0.1): `main.py experts serve` deploys them, and
`run`, `ask` and the expert provider reach them through `--experts-url`, as a desktop would."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.cluster.process import ServiceProcess, free_port
from tests.conftest import ROOT
from tests.tiny_models import tiny  # noqa: F401, F811 (fixture)

pytest.importorskip("ray", reason="Ray is the cluster extra: pip install -e '.[cluster]'")
# Ray's head process probes cloud metadata addresses (169.254.169.254, metadata.google.internal)
# when it starts, and joining a cluster looks up this machine's outward address: so these tests
# run only in a network namespace of their own, where nothing reaches another machine
# (./test.sh runs them with scripts/isolated.sh).
def _interfaces() -> list[str]:
    """This process's network interfaces (/proc/net/dev is per network namespace)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return []
    return [line.split(":")[0].strip() for line in lines]


ISOLATED = _interfaces() == ["lo"]
pytestmark = pytest.mark.skipif(not ISOLATED, reason="runs only in a network namespace of its own: "
                                                     "bash scripts/isolated.sh .venv/bin/python -m pytest tests/test_cluster.py")

PAIR = ["A cat sits on the mat.", "A kitten rests on the rug."]


def env_for(root: Path) -> dict:
    return {**os.environ, "JARVIS_DATA_DIR": str(root / "data"), "JARVIS_CONFIG_DIR": str(root / "config")}


def main_py(root: Path, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env_for(root), cwd=ROOT, timeout=timeout)


def Service(root: Path, port: int | None = None) -> ServiceProcess:
    """The service with its own data folder (its models are the cluster's, not the desktop's)."""
    return ServiceProcess({"JARVIS_DATA_DIR": str(root / "data"), "JARVIS_CONFIG_DIR": str(root / "config")}, port)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("cluster")
    tiny.install("text-to-image", root / "data")  # the cluster's own model, not the desktop's
    tiny.install("text-to-image", root / "data", model_id="tiny/cold-image")  # loaded by the cancel test only
    service = Service(root).start()
    yield service
    service.stop()


def test_similarity_through_the_cluster_gives_the_local_score(cluster, tmp_path):
    remote = main_py(tmp_path, "run", "sentence-similarity", "--text", PAIR[0], "--text", PAIR[1],
                     "--experts-url", cluster.url, "--json")
    local = main_py(tmp_path, "run", "sentence-similarity", "--text", PAIR[0], "--text", PAIR[1], "--json")
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    remote_out, local_out = json.loads(remote.stdout)["outputs"], json.loads(local.stdout)["outputs"]
    assert remote_out["score"] == local_out["score"] and remote_out["host"] == socket.gethostname()


def test_an_image_task_on_the_cluster_returns_its_image(cluster, tmp_path):
    from PIL import Image

    done = main_py(tmp_path, "run", "text-to-image", "--model", "tiny/text-to-image", "--text", "a red car",
                   "--experts-url", cluster.url, "--json")
    assert done.returncode == 0, done.stderr
    image = Path(json.loads(done.stdout)["outputs"]["image"])
    assert image.is_file() and str(tmp_path / "data") in str(image)  # written here, from the bytes sent
    assert Image.open(image).size[0] > 0


def test_ask_runs_its_plan_on_the_cluster(cluster, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"id": 0, "task": "sentence-similarity", "dep": [],
                                 "args": {"text": PAIR[0], "text2": PAIR[1]}}]))
    done = main_py(tmp_path, "ask", "compare them", "--plan", str(plan), "--experts-url", cluster.url, "--json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["status"] == "done" and result["outputs"]["host"] and result["outputs"]["score"] > 0.5


def test_a_cancelled_run_stops_the_remote_task(cluster, tmp_path):
    from app.cluster.client import RemoteExperts
    from common.cancel import Cancelled, CancelToken

    experts = RemoteExperts(cluster.url)
    before = cluster.status()["cancelled"]
    token = CancelToken()
    cancelled_at = []

    def cancel_once_running():
        # Stop once the replica has the task: a fixed delay can fire, on a loaded machine, before
        # the request has left Ray's proxy, and then there is no remote task to stop.
        deadline = time.time() + 60
        while cluster.status()["running"] == 0 and time.time() < deadline:
            time.sleep(0.02)
        cancelled_at.append(time.perf_counter())
        token.cancel()

    threading.Thread(target=cancel_once_running, daemon=True).start()
    with pytest.raises(Cancelled):
        experts.run("tiny/cold-image", "text-to-image", {"text": "a red car"}, tmp_path / "out", token)
    assert cancelled_at and time.perf_counter() - cancelled_at[0] < 2
    deadline = time.time() + 20
    while cluster.status()["cancelled"] == before and time.time() < deadline:
        time.sleep(0.2)
    assert cluster.status()["cancelled"] == before + 1 and cluster.status()["running"] == 0
    assert not list((tmp_path / "out").glob("*.png"))


def test_a_node_keeps_none_of_the_requests_files_once_their_tasks_end(cluster, tmp_path):
    # Runs after the tests above (an image made and sent back, a similarity, a cancelled run):
    # each request's inputs and outputs lived in the node's scratch folder only while it ran.
    from app.cluster.service import SCRATCH

    done = main_py(tmp_path, "run", "text-to-image", "--model", "tiny/text-to-image", "--text", "a boat",
                   "--experts-url", cluster.url, "--json")
    assert done.returncode == 0, done.stderr
    scratch = Path(cluster.env["JARVIS_DATA_DIR"]) / SCRATCH
    deadline = time.time() + 20  # a cancelled task's folder goes when its thread ends
    while list(scratch.iterdir()) and time.time() < deadline:
        time.sleep(0.2)
    assert scratch.is_dir() and list(scratch.iterdir()) == []


def test_a_cluster_that_is_not_there_fails_the_task_with_its_address(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/experts"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"id": 0, "task": "sentence-similarity", "dep": [],
                                 "args": {"text": PAIR[0], "text2": PAIR[1]}}]))
    start = time.perf_counter()
    done = main_py(tmp_path, "ask", "compare them", "--plan", str(plan), "--experts-url", url, "--json")
    assert time.perf_counter() - start < 120
    turn = json.loads(done.stdout)
    [result] = turn["results"]
    assert result["status"] == "failed" and "cannot reach the expert cluster at " + url in result["error"]
    assert "Traceback" not in done.stderr
    run = main_py(tmp_path, "run", "sentence-similarity", "--text", "a", "--text", "b", "--experts-url", url)
    assert run.returncode == 1 and run.stderr.startswith("error: cannot reach the expert cluster")


def test_a_desktop_with_an_experts_url_never_imports_ray(tmp_path):
    code = ("import sys; from app.settings import Settings; from app.wiring import build_app; "
            f"app = build_app(Settings(data_dir={str(tmp_path)!r}, experts_url='http://127.0.0.1:9/experts')); "
            "print(type(app.engine.experts).__name__, 'ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.stdout.split() == ["RemoteExperts", "False"], done.stderr


def test_killing_the_service_mid_request_fails_clearly_and_a_redeploy_serves_again(tmp_path, tiny):
    from app.cluster.client import RemoteExperts
    from common.cancel import CancelToken
    from core.experts import ExpertsUnavailable

    root = tmp_path / "cluster"
    tiny.install("text-to-image", root / "data")
    service = Service(root).start()
    experts = RemoteExperts(service.url)
    failure = []

    def request() -> None:
        try:
            experts.run("tiny/text-to-image", "text-to-image", {"text": "a red car"}, tmp_path / "out", CancelToken())
        except ExpertsUnavailable as error:
            failure.append(str(error))

    try:
        worker = threading.Thread(target=request)
        worker.start()
        time.sleep(0.1)
        service.stop(signal.SIGKILL)
        worker.join(timeout=120)
        assert not worker.is_alive(), "the request hung after the service died"
        assert failure and service.url in failure[0]
        service = Service(root, port=service.port).start()  # the same address the desktop knows
        outputs = experts.run("sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity",
                              {"text": PAIR[0], "text2": PAIR[1]}, tmp_path / "out", CancelToken())
        assert outputs["score"] > 0.5
    finally:
        service.stop()




def test_a_head_and_a_worker_node_each_run_a_replica_and_both_answer(tmp_path):
    """Two Ray nodes on this machine (each its own raylet and workers, on 127.0.0.1), joined by
    `experts serve --address HEAD --replicas 2`: a replica on each, both answering through the
    head's one HTTP entry, and tasks through it give one score. Joining a cluster makes Ray look up this
    machine's outward address: another reason these tests run where only loopback exists."""
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "two_node_cluster.py"),
                           str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["nodes"]) == 2, result  # a replica on each node, both answering
    assert set(result["task_nodes"]) <= set(result["nodes"])
    assert len(result["scores"]) == 1 and result["scores"][0] > 0.5  # eight tasks, one score
