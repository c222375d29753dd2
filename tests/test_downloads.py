"""Downloads against a local Hub on 127.0.0.1: what is fetched, progress, resume (in one run and
after the process is killed), integrity, cancel, disk space, errors, tokens and mirrors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_server import HubServer, gguf_bytes, tiny_bert_files

from models.downloads import DownloadCancelled, Downloader, DownloadError, IntegrityError, NotEnoughSpace, select_files
from models.hubclient import HubFile, NetworkAccess
from models.maintenance import remove, verify
from models.progress import DownloadProgress
from models.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]
REPO = "acme/blob-model"
CONFIG = b'{"architectures": ["BertForSequenceClassification"], "model_type": "bert"}'


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return LocalStore(tmp_path / "data")


def downloader(store, hub, **kwargs):
    kwargs.setdefault("backoff_s", 0.01)
    return Downloader(store, endpoint=hub.url, **kwargs)


def blob_repo(hub, size=2_000_000, name=REPO):
    """A repo with a config, a big LFS file and a small one, random bytes."""
    files = {"config.json": CONFIG, "model.safetensors": os.urandom(size), "extra.safetensors": os.urandom(300_000)}
    hub.add_repo(name, files)
    return files


def test_a_real_tiny_bert_is_downloaded_with_only_the_files_it_needs_and_loads_offline(hub, store):
    files = tiny_bert_files()
    hub.add_repo("acme/tiny-bert", files, pipeline_tag="text-classification")
    [record] = downloader(store, hub).download("acme/tiny-bert")

    assert (record.id, record.task, record.format, record.complete) == ("acme/tiny-bert", "text-classification",
                                                                       "safetensors", True)
    snapshot = Path(record.path)
    got = sorted(p.name for p in snapshot.iterdir())
    assert got == sorted(["README.md", "config.json", "model.safetensors", "special_tokens_map.json",
                          "tokenizer.json", "tokenizer_config.json", "vocab.txt"])
    for skipped in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx/model.onnx", ".gitattributes"):
        assert hub.bytes_served("acme/tiny-bert", skipped) == 0
    assert record.size_bytes == sum(len(files[name]) for name in got)
    assert any(path.startswith("/cdn/") for _, path, _ in hub.requests)  # LFS went through the "CDN" redirect
    assert verify(store, "acme/tiny-bert").ok

    # The cache is a genuine Hugging Face cache: transformers loads it offline, by repo id.
    import huggingface_hub.constants
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert huggingface_hub.constants.HF_HUB_OFFLINE  # the download did not switch offline mode off
    model = AutoModelForSequenceClassification.from_pretrained("acme/tiny-bert", cache_dir=store.hub_cache,
                                                               local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained("acme/tiny-bert", cache_dir=store.hub_cache, local_files_only=True)
    logits = model(**tokenizer("a fine day", return_tensors="pt")).logits
    assert tuple(logits.shape) == (1, 2)
    assert model.config.id2label[1] == "POSITIVE"


def test_progress_reports_bytes_speed_eta_and_files(hub, store):
    files = blob_repo(hub)
    hub.faults.throttle_s = 0.002
    progress = DownloadProgress(min_interval_s=0)
    events = []
    progress.subscribe(events.append)
    downloader(store, hub).download(REPO, progress=progress)

    total = sum(len(b) for b in files.values())
    moving = [e for e in events if e.phase == "downloading"]
    assert [e.done_bytes for e in moving] == sorted(e.done_bytes for e in moving)
    assert len(moving) > 10 and all(e.total_bytes == total for e in moving)
    assert any(e.speed_bps > 0 and e.eta_s is not None and 0 < e.fraction < 1 for e in moving)
    assert "verifying" in {e.phase for e in events}
    last = events[-1]
    assert (last.phase, last.done_bytes, last.files_done, last.files_total) == ("done", total, 3, 3)
    assert last.fraction == 1.0 and last.finished


def test_a_download_cut_off_resumes_in_a_new_run_without_fetching_a_byte_twice(hub, store):
    files = blob_repo(hub)
    hub.faults.drop_after[(REPO, "model.safetensors")] = [700_000]
    with pytest.raises(DownloadError, match="partial file is kept"):
        downloader(store, hub, retries=0).download(REPO)

    # Listed as a download not finished, never as an installed model.
    [partial] = [r for r in store.list() if r.id == REPO]
    assert not partial.complete and partial.size_bytes >= 700_000
    assert store.get(REPO) is None and store.for_task("text-classification") == []

    [record] = downloader(store, hub).download(REPO)  # a new Downloader: nothing carried over in memory
    assert record.complete
    for name, data in files.items():
        assert hub.bytes_served(REPO, name) == len(data), name  # each byte exactly once
    ranges = [h.get("range") for method, path, h in hub.requests if "model.safetensors" in path and path.startswith("/cdn/")]
    assert ranges == [None, "bytes=700000-"]
    assert verify(store, REPO).ok


def test_a_dropped_connection_is_resumed_within_the_same_run(hub, store):
    files = blob_repo(hub)
    hub.faults.drop_after[(REPO, "model.safetensors")] = [300_000, 900_000]
    [record] = downloader(store, hub, retries=1).download(REPO)  # progress resets the retry count
    assert record.complete
    assert hub.bytes_served(REPO, "model.safetensors") == len(files["model.safetensors"])


def test_a_killed_process_leaves_a_partial_file_that_the_next_run_continues(hub, store, tmp_path):
    files = blob_repo(hub, size=3_000_000)
    hub.faults.throttle_s = 0.02
    script = ("import sys; sys.path.insert(0, sys.argv[1]);"
              "from models.store import LocalStore; from models.downloads import Downloader;"
              "Downloader(LocalStore(sys.argv[2]), endpoint=sys.argv[3]).download(sys.argv[4])")
    env = {**os.environ, "HF_HUB_CACHE": str(store.hub_cache)}
    child = subprocess.Popen([sys.executable, "-c", script, str(ROOT), str(store.data_dir), hub.url, REPO], env=env)
    deadline = time.monotonic() + 30
    while hub.bytes_served(REPO, "model.safetensors") < 800_000:
        assert child.poll() is None and time.monotonic() < deadline, "the child finished or stalled"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    hub.faults.throttle_s = 0

    assert store.get(REPO) is None
    [record] = downloader(store, hub).download(REPO)
    assert record.complete and verify(store, REPO).ok
    resumed = [h.get("range") for _, path, h in hub.requests if path.startswith("/cdn/") and "model.safetensors" in path]
    assert len(resumed) == 2 and resumed[1].startswith("bytes=")
    start = int(resumed[1][len("bytes="):-1])
    assert start >= 500_000  # what the killed process had written was kept
    assert hub.bytes_served(REPO, "model.safetensors") < len(files["model.safetensors"]) + 800_000
    assert hub.bytes_served(REPO, "extra.safetensors") <= len(files["extra.safetensors"])


@pytest.mark.parametrize("bad", ["model.safetensors", "config.json"])  # sha256 (LFS) and git sha1 (plain)
def test_bytes_that_do_not_match_the_hubs_hash_are_rejected_and_nothing_is_installed(hub, store, bad):
    files = blob_repo(hub)
    hub.faults.corrupt.add((REPO, bad))
    with pytest.raises(IntegrityError, match="sha256" if bad.endswith(".safetensors") else "git sha1"):
        downloader(store, hub).download(REPO)
    assert store.get(REPO) is None
    assert all(not r.complete for r in store.list() if r.id == REPO)
    repo_dir = store.hub_cache / "models--acme--blob-model"
    assert not any((repo_dir / "snapshots").rglob("*")), "no snapshot may link unverified files"
    assert not list((repo_dir / "blobs").glob("*.incomplete"))
    assert hub.bytes_served(REPO, bad) == len(files[bad])


def test_a_corrupt_partial_file_is_fetched_again_from_the_start(hub, store):
    files = blob_repo(hub)
    hub.faults.drop_after[(REPO, "model.safetensors")] = [500_000]
    with pytest.raises(DownloadError):
        downloader(store, hub, retries=0).download(REPO)
    [part] = (store.hub_cache / "models--acme--blob-model" / "blobs").glob("*.incomplete")
    with open(part, "r+b") as handle:  # a bit flipped on disk while the app was closed
        handle.write(b"\0" * 16)
    [record] = downloader(store, hub).download(REPO)
    assert record.complete and verify(store, REPO).ok
    assert hub.bytes_served(REPO, "model.safetensors") == 2 * len(files["model.safetensors"])


def test_cancel_stops_at_once_keeps_the_partial_file_and_a_later_run_finishes(hub, store):
    from common.cancel import CancelToken

    files = blob_repo(hub)
    hub.faults.throttle_s = 0.005
    cancel = CancelToken()  # the same token type the engine and the runners take
    progress = DownloadProgress(min_interval_s=0)
    events = []
    progress.subscribe(events.append)
    progress.subscribe(lambda e: e.done_bytes > 400_000 and cancel.cancel())
    with pytest.raises(DownloadCancelled):
        downloader(store, hub).download(REPO, progress=progress, cancel=cancel)
    assert events[-1].phase == "cancelled"
    assert hub.bytes_served(REPO, "model.safetensors") < len(files["model.safetensors"])
    [partial] = [r for r in store.list() if r.id == REPO]
    assert not partial.complete
    assert verify(store, REPO).problems == ["the download is not finished: run `models download` again to complete it"]

    hub.faults.throttle_s = 0
    [record] = downloader(store, hub).download(REPO, cancel=CancelToken())
    assert record.complete
    assert hub.bytes_served(REPO, "model.safetensors") < 2 * len(files["model.safetensors"])


def test_not_enough_disk_space_is_refused_before_a_byte_is_written(hub, store, monkeypatch):
    import shutil

    blob_repo(hub)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(NotEnoughSpace, match="not enough disk space.*needs 2.2 MiB"):
        downloader(store, hub).download(REPO)
    assert not store.hub_cache.exists()
    assert not (store.data_dir / "hub-manifests").exists()
    assert sum(hub.served.values()) == 0


def test_hub_errors_are_explained_and_busy_servers_retried(hub, store):
    blob_repo(hub)
    with pytest.raises(DownloadError, match="no such model"):
        downloader(store, hub).download("acme/nothing-here")
    with pytest.raises(DownloadError, match="no such revision"):
        downloader(store, hub).download(REPO, revision="v9")

    hub.faults.fail_status[(REPO, "model.safetensors")] = [503, 500]
    [record] = downloader(store, hub).download(REPO)
    assert record.complete

    hub.faults.fail_status[(REPO + "2", "config.json")] = [503] * 10
    blob_repo(hub, name=REPO + "2")
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        downloader(store, hub, retries=2).download(REPO + "2")


def test_the_token_is_sent_only_when_given_and_never_to_another_host(hub, store, monkeypatch):
    blob_repo(hub)
    monkeypatch.setenv("HF_TOKEN", "hf_users_own_token")
    downloader(store, hub).download(REPO)
    assert all(auth is None for _, auth in hub.auth_headers_seen())

    hub.requests.clear()
    blob_repo(hub, name=REPO + "-private")
    downloader(store, hub, token="hf_given").download(REPO + "-private")
    seen = hub.auth_headers_seen()
    assert {auth for path, auth in seen if not path.startswith("/cdn/")} == {"Bearer hf_given"}
    assert {auth for path, auth in seen if path.startswith("/cdn/")} == {None}  # the CDN is another host


def test_the_endpoint_comes_from_hf_endpoint_for_mirrors(hub, store, monkeypatch):
    blob_repo(hub)
    monkeypatch.setenv("HF_ENDPOINT", hub.url + "/")
    dl = Downloader(store)
    assert dl.endpoint == hub.url
    assert dl.download(REPO)[0].complete


def test_a_gguf_repo_needs_a_choice_and_downloads_one_file(hub, store):
    files = {f"Tiny-{q}.gguf": gguf_bytes(name=q) for q in ("Q4_K_M", "Q5_K_M", "Q8_0")}
    hub.add_repo("acme/Tiny-GGUF", {**files, "README.md": b"# tiny\n"})
    with pytest.raises(DownloadError, match="holds 3 GGUF files; choose one with --include"):
        downloader(store, hub).download("acme/Tiny-GGUF")
    [record] = downloader(store, hub).download("acme/Tiny-GGUF", include=["*Q4_K_M.gguf"])
    assert (record.id, record.task, record.format) == ("acme/Tiny-GGUF/Tiny-Q4_K_M.gguf", "controller", "gguf")
    assert Path(record.path).read_bytes() == files["Tiny-Q4_K_M.gguf"]
    assert hub.bytes_served("acme/Tiny-GGUF", "Tiny-Q8_0.gguf") == 0
    downloader(store, hub).download("acme/Tiny-GGUF", include=["Tiny-Q8_0.gguf"])
    assert {r.id for r in store.for_task("controller")} >= {"acme/Tiny-GGUF/Tiny-Q4_K_M.gguf",
                                                             "acme/Tiny-GGUF/Tiny-Q8_0.gguf"}


def test_a_paginated_file_list_is_followed(store):
    with HubServer(page_size=2) as hub:
        files = blob_repo(hub)
        [record] = downloader(store, hub).download(REPO)
    assert sorted(p.name for p in Path(record.path).iterdir()) == sorted(files)


def test_file_selection_prefers_safetensors_and_skips_other_frameworks():
    def pick(*names, repo="acme/x"):
        return sorted(f.path for f in select_files(repo, [HubFile(n, 10, None, "0" * 40) for n in names]))

    assert pick("config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
                "model.onnx", "onnx/model.onnx", "rust_model.ot", "training_args.bin", "model.fp16.safetensors",
                "tokenizer.json", ".gitattributes") == ["config.json", "model.safetensors", "tokenizer.json"]
    assert pick("config.json", "pytorch_model.bin") == ["config.json", "pytorch_model.bin"]  # pickle only: kept
    assert pick("model_index.json", "v1-5-pruned.safetensors", "v1-5-pruned.ckpt", "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin",
                "unet/diffusion_pytorch_model.fp16.safetensors") == [
        "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
    with pytest.raises(DownloadError, match="no safetensors or PyTorch weights"):
        pick("config.json", "skops-model.pkl", "README.md")
    split = [HubFile(f"big-Q4_K_M-0000{i}-of-00002.gguf", 10, "a" * 64, None) for i in (1, 2)]
    chosen = select_files("acme/big-GGUF", split + [HubFile("big-Q8_0.gguf", 10, "b" * 64, None)],
                          include=["*Q4_K_M-00001-of-00002.gguf"])
    assert chosen == split  # asking for a split GGUF's first part brings the rest


def test_network_windows_open_for_each_host_and_its_addresses():
    opened = []

    class Window:
        def __init__(self, host):
            self.host = host

        def __enter__(self):
            opened.append(self.host)

        def __exit__(self, *exc):
            opened.remove(self.host)

    access = NetworkAccess(Window)
    access.ensure("http://localhost:8080/a")
    access.ensure("http://localhost:8080/b")  # once per host
    assert opened[0] == "localhost" and "127.0.0.1" in opened and len(opened) == len(set(opened))
    access.close()
    assert opened == []


def test_under_the_apps_network_guard_only_the_download_gets_through(store, monkeypatch):
    """The guard blocks everything not loopback; here even loopback counts as outside, so the only
    way through is the window the download opens for its own host. The endpoint is named by host
    name while the guard sees addresses at connect time: the window must cover both."""
    import urllib.request

    from core.offline import netguard

    monkeypatch.setattr(netguard, "is_local", lambda host: False)
    with HubServer(lfs_host=None) as hub:
        blob_repo(hub)
        endpoint = f"http://localhost:{hub.port}"
        netguard.install()
        netguard.clear_attempts()
        try:
            [record] = Downloader(store, endpoint=endpoint, network_window=netguard.allowing).download(REPO)
            assert record.complete and netguard.blocked_attempts() == []
            with pytest.raises(OSError):  # the window closed with the download
                urllib.request.urlopen(endpoint + "/api/models/acme/blob-model/revision/main", timeout=5)
            assert [a.host for a in netguard.blocked_attempts()] == ["localhost"]
            with pytest.raises(DownloadError, match="cannot reach"):
                Downloader(store, endpoint=endpoint, retries=0).download(REPO)  # no window: blocked
        finally:
            netguard.uninstall()
            netguard.clear_attempts()


def test_a_partial_download_can_be_removed(hub, store):
    blob_repo(hub)
    hub.faults.drop_after[(REPO, "model.safetensors")] = [600_000]
    with pytest.raises(DownloadError):
        downloader(store, hub, retries=0).download(REPO)
    removed = remove(store, REPO)
    assert removed.bytes_freed >= 600_000
    assert [r for r in store.list() if r.id == REPO] == []
    assert not (store.hub_cache / "models--acme--blob-model").exists()


def test_models_download_exits_2_for_a_bad_id_and_1_for_a_failed_download(hub, store, tmp_path, monkeypatch, capsys):
    from app.cli import main as cli

    monkeypatch.setenv("JARVIS_DATA_DIR", str(tmp_path / "data"))
    assert cli(["models", "download", "../../victim", "--endpoint", hub.url]) == 2
    assert "not a Hub model id" in capsys.readouterr().err
    blob_repo(hub)
    hub.faults.corrupt.add((REPO, "config.json"))
    assert cli(["models", "download", REPO, "--endpoint", hub.url]) == 1  # the input was fine; the bytes were not
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "git sha1" in err[-1]
