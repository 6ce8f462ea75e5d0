"""Listing and stat-ing a snapshot's local files quickly gives exactly what ``Path.rglob``,
``Path.resolve`` and ``Path.stat`` gave: the same files, in the same order, under the same
resolved paths (the stat cache's keys) and names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evergreen.data.snapshots import _relative_names, _stat_files
from evergreen.data.sources import FORMATS, list_files, resolve_files
from evergreen.errors import InvalidInput


def rglob_files(folder: Path) -> list[Path]:
    """What ``resolve_files`` did for a folder before it used ``os.scandir``."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)


def old_relative_names(files: list[Path]) -> list[str]:
    if len(files) == 1:
        return [files[0].name]
    resolved = [f.resolve() for f in files]
    root = Path(os.path.commonpath([r.parent for r in resolved]))
    return [r.relative_to(root).as_posix() for r in resolved]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in [
        "a/b.csv",
        "a-b/x.csv",
        "a/c/d.csv",
        "a.b/e.csv",
        "A.csv",
        "Z.CSV",
        "..csv",
        ".hidden/h.csv",
        ".dot.csv",
        "deep/er/and/deeper/f.csv",
        "notes.txt",
        "csv",
        "no_suffix.",
    ]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a,b\n1,2\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.csv").write_text("a,b\n1,2\n")
    (root / "linked.csv").symlink_to(outside / "o.csv")  # a link to a file counts
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)  # not searched
    (root / "dangling.csv").symlink_to(tmp_path / "missing.csv")
    (root / "folder.csv").mkdir()  # a folder with a data suffix is no file
    return root


def test_a_folder_lists_what_rglob_found_in_the_same_order(tree: Path) -> None:
    expected = rglob_files(tree)
    assert len(expected) == 11
    assert list_files(str(tree)) == [str(p) for p in expected]
    assert resolve_files(str(tree)) == expected


def test_relative_and_dotted_folders_list_as_paths_print_them(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.parent)
    for given in ("data", "./data", "data/", "data/a/.."):
        assert list_files(given) == [str(p) for p in rglob_files(Path(given))], given
    monkeypatch.chdir(tree / "a")
    assert (
        list_files(".")
        == [str(p) for p in rglob_files(Path("."))]
        == [
            "b.csv",
            "c/d.csv",
        ]
    )


def test_an_unsupported_file_in_a_glob_is_named(tmp_path: Path) -> None:
    for name in ("a.csv", "b.txt", "c.md"):
        (tmp_path / name).write_text("a\n1\n")
    with pytest.raises(InvalidInput, match=r"b\.txt: unsupported file type '\.txt'"):
        list_files(str(tmp_path / "*"))


def test_stats_are_keyed_by_the_resolved_path(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    files = [*list_files("data"), "data/linked_dir/o.csv", "data/a/../A.csv"]
    stats = _stat_files(files)
    for file, stat in zip(files, stats, strict=True):
        st = Path(file).stat()
        assert stat.path == str(Path(file).resolve()), file
        assert (stat.size, stat.mtime_ns, stat.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)
    linked = dict(zip(files, stats, strict=True))["data/linked.csv"]
    assert linked.path == str((tree.parent / "outside" / "o.csv").resolve())
    monkeypatch.chdir(tree)
    assert [s.path for s in _stat_files(["A.csv", "linked.csv"])] == [
        str(Path("A.csv").resolve()),
        str(Path("linked.csv").resolve()),
    ]


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    (tmp_path / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(FileNotFoundError):
        _stat_files([str(tmp_path / "gone.csv")])
    with pytest.raises(FileNotFoundError):
        _stat_files([str(tmp_path / "never.csv")])


@pytest.mark.parametrize(
    "names",
    [
        ["a/b.csv", "a/c/d.csv", "a-b/x.csv"],
        ["a/b.csv", "a/c/d.csv"],
        ["a/c/d.csv"],
        ["deep/er/and/deeper/f.csv", "A.csv"],
    ],
)
def test_names_are_relative_to_the_common_folder(tree: Path, names: list[str]) -> None:
    files = [tree / name for name in names]
    strings = [str(f) for f in files]
    resolved = [stat.path for stat in _stat_files(strings)]
    assert _relative_names(strings, resolved) == old_relative_names(files)
