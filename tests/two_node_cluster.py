"""Two Ray nodes on 127.0.0.1 serving the experts, for test_cluster (which runs in a network
namespace of its own): a head and a worker node, `experts serve --address HEAD --replicas 2`, and
requests through the one HTTP entry: /health until both replicas' nodes have answered, and
similarity tasks. Prints one JSON line: the nodes, the nodes that ran a task, the scores.

    python tests/two_node_cluster.py WORKDIR
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.cluster_utils import Cluster  # noqa: E402

from app.cluster.client import RemoteExperts  # noqa: E402
from app.cluster.process import ServiceProcess  # noqa: E402
from common.cancel import CancelToken  # noqa: E402

PAIR = {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug."}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def main(workdir: Path) -> None:
    # Serve's proxy sends a request to a replica on its own node when it can; here both nodes are
    # this machine, so route by load alone, and /health calls reach either replica.
    os.environ["RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING"] = "0"
    nodes = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.1", "num_cpus": 1,
                                                          "include_dashboard": False})
    nodes.add_node(node_ip_address="127.0.0.1", num_cpus=1)  # one CPU each: a replica per node
    service = ServiceProcess({"JARVIS_DATA_DIR": str(workdir / "data"), "JARVIS_CONFIG_DIR": str(workdir / "config")},
                             args=["--address", nodes.address, "--replicas", "2"])
    try:
        service.start()
        experts = RemoteExperts(service.url)
        # Requests for one model stay with the replica that has it loaded (serve.multiplexed);
        # /health goes to either replica, so asking it often enough meets both.
        health_nodes, deadline = set(), time.time() + 180  # the second replica may start later
        while len(health_nodes) < 2 and time.time() < deadline:
            with urllib.request.urlopen(f"{service.url}/health", timeout=30) as reply:
                health_nodes.add(json.load(reply)["node"])
            time.sleep(0.2)
        with ThreadPoolExecutor(4) as pool:
            ran = list(pool.map(lambda _: experts.run(MINILM, "sentence-similarity", PAIR, workdir / "out",
                                                      CancelToken()), range(8)))
        seen = {outputs["node"] for outputs in ran}
        scores = {round(outputs["score"], 5) for outputs in ran}
        print(json.dumps({"nodes": sorted(health_nodes), "task_nodes": sorted(seen), "scores": sorted(scores)}),
              flush=True)
    finally:
        service.stop()
        nodes.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
