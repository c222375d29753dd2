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
