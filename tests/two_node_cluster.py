"""Two Ray nodes on 127.0.0.1 serving the experts, for test_cluster (run in a network namespace
of its own): a head and a worker node, `experts serve --address HEAD --replicas 2`, and
similarity requests through the one HTTP entry until both nodes have answered. Prints one JSON
line: the Ray nodes that answered and the scores they gave.

    python tests/two_node_cluster.py WORKDIR
"""

from __future__ import annotations

import json
import sys
import time
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
    nodes = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.1", "num_cpus": 1,
                                                          "include_dashboard": False})
    nodes.add_node(node_ip_address="127.0.0.1", num_cpus=1)  # one CPU each: a replica per node
    service = ServiceProcess({"JARVIS_DATA_DIR": str(workdir / "data"), "JARVIS_CONFIG_DIR": str(workdir / "config")},
                             args=["--address", nodes.address, "--replicas", "2"])
    try:
        service.start()
        experts = RemoteExperts(service.url)

        def similarity(_):
            return experts.run(MINILM, "sentence-similarity", PAIR, workdir / "out", CancelToken())

        seen, scores = set(), set()
        deadline = time.time() + 300  # the second replica may still be loading its model
        with ThreadPoolExecutor(4) as pool:
            while len(seen) < 2 and time.time() < deadline:
                for outputs in pool.map(similarity, range(4)):
                    seen.add(outputs["node"])
                    scores.add(round(outputs["score"], 5))
        print(json.dumps({"nodes": sorted(seen), "scores": sorted(scores)}), flush=True)
    finally:
        service.stop()
        nodes.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
