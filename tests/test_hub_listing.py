"""A hub or mirror that lists hostile file names cannot make a download write outside the cache."""

import pytest

from models.hubclient import HubClient, HubError

GOOD_SHA1 = "0" * 40


def listing(entries):
    client = HubClient("http://127.0.0.1:9")
    client._json = lambda url, what: (entries, {})
    return client.list_files("acme/model", "c" * 40)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/abs/config.json", "a/../../b.json", "a//b.json",
                                  "..\\..\\x.json", "./config.json", "", "x\0.json"])
def test_unsafe_file_paths_in_a_listing_are_refused(path):
    with pytest.raises(HubError, match="unsafe path"):
        listing([{"type": "file", "path": path, "size": 1, "oid": GOOD_SHA1}])


@pytest.mark.parametrize("lfs, oid", [(False, "../../../x"), (True, "../blob"), (False, "a/b")])
def test_unsafe_blob_ids_in_a_listing_are_refused(lfs, oid):
    entry = {"type": "file", "path": "model.safetensors", "size": 1, "oid": GOOD_SHA1}
    if lfs:
        entry["lfs"] = {"oid": oid, "size": 1}
    else:
        entry["oid"] = oid
    with pytest.raises(HubError, match="unsafe id"):
        listing([entry])


def test_ordinary_listings_pass():
    files = listing([{"type": "file", "path": "config.json", "size": 3, "oid": GOOD_SHA1},
                     {"type": "file", "path": "unet/model.safetensors", "size": 9, "oid": GOOD_SHA1,
                      "lfs": {"oid": "ab" * 32, "size": 9}},
                     {"type": "directory", "path": "unet", "oid": GOOD_SHA1, "size": 0}])
    assert [(f.path, f.etag) for f in files] == [("config.json", GOOD_SHA1), ("unet/model.safetensors", "ab" * 32)]


def revision(info):
    client = HubClient("http://127.0.0.1:9")
    client._json = lambda url, what: (info, {})
    return client.revision_info("acme/model", "main")


@pytest.mark.parametrize("sha", ["../../../../victim", "/etc", "c" * 39, "C" * 40, "c" * 40 + "/x", "", 7])
def test_unsafe_commit_ids_from_a_server_are_refused(sha):
    with pytest.raises(HubError, match="commit"):
        revision({"id": "acme/model", "sha": sha})


@pytest.mark.parametrize("canonical", ["../../x", "a/b/c", "/abs", "a/..", ".hidden/x", "a\\b"])
def test_unsafe_canonical_ids_from_a_server_are_refused(canonical):
    with pytest.raises(HubError, match="not a Hub model id"):
        revision({"id": canonical, "sha": "c" * 40})


def test_empty_blob_ids_are_refused():
    with pytest.raises(HubError, match="unsafe id"):
        listing([{"type": "file", "path": "config.json", "size": 1, "oid": ""}])


@pytest.mark.parametrize("repo_id", ["../x", "a/b/c", "/abs", "a b", "x" * 200, "a/.."])
def test_hostile_repo_ids_and_revisions_are_refused_before_any_request(tmp_path, repo_id):
    from models.downloads import Downloader, DownloadError
    from models.store import LocalStore

    downloader = Downloader(LocalStore(tmp_path), endpoint="http://127.0.0.1:9", retries=0)
    with pytest.raises(DownloadError, match="not a Hub model id"):
        downloader.download(repo_id)
    with pytest.raises(DownloadError, match="not a branch"):
        downloader.download("acme/model", revision="../../../outside")
    assert not (tmp_path / "outside").exists()

