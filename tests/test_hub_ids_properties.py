"""Property tests: whatever a user types or a server answers as a model id, revision or file path,
it is either refused with the app's own error or names a path inside its folder."""

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from models.hubclient import HubError, _check_listed, check_repo_id, check_revision

ROOT = Path("/cache/hub")
# Text biased towards what escapes folders: separators, dots, NUL, backslashes, long runs.
hostile = (st.lists(st.sampled_from(list("ab./\\-_~:\0 \u00e9\u2215") + ["..", "%2e", "//"]), max_size=30)
           .map("".join) | st.text(max_size=300))


def inside(path: Path, root: Path) -> bool:
    where = Path(os.path.normpath(path))
    return where != root and where.is_relative_to(root)


@settings(max_examples=600, deadline=None)
@given(hostile)
def test_a_repo_id_is_refused_or_names_one_folder_in_the_cache(repo_id):
    try:
        checked = check_repo_id(repo_id)
    except HubError:
        return
    folder = ROOT / ("models--" + checked.replace("/", "--"))
    assert inside(folder, ROOT) and folder.parent == ROOT


@settings(max_examples=600, deadline=None)
@given(hostile)
def test_a_revision_is_refused_or_names_a_ref_inside_refs(revision):
    try:
        checked = check_revision(revision)
    except HubError:
        return
    assert inside(ROOT / "refs" / checked, ROOT / "refs")


@settings(max_examples=600, deadline=None)
@given(path=hostile, oid=st.one_of(st.just("a" * 40), st.just("b" * 64), hostile))
def test_a_listed_file_is_refused_or_stays_in_its_snapshot(path, oid):
    snapshot = ROOT / "models--a--b" / "snapshots" / ("c" * 40)
    try:
        _check_listed("a/b", {"path": path, "oid": oid}, None)
    except HubError:
        return
    assert inside(snapshot / path, snapshot)
    assert inside(ROOT / "blobs" / oid, ROOT / "blobs") and "/" not in oid
