"""Every element of a code file lives in that file: no external storage, links or virtual datasets.

HDF5 lets a dataset keep its bytes in other files (external storage), lets a name point into
another file (external links) or elsewhere in the same file (soft links), and lets a dataset
be assembled from others (virtual datasets). A code file from a collaborator must never make
actcode read another file, so the spec forbids all of them, anywhere in the file, results
included, and readers check before reading anything else.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from actcode.errors import ExternalDataError


def _dataset_problem(ds: h5py.Dataset) -> str | None:
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        return "is a virtual dataset (its data would be read from other datasets or files)"
    if plist.get_external_count() > 0:
        name = plist.get_external(0)[0]
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        return f"keeps its data in the external file {text!r}"
    return None


def check_self_contained(f: h5py.File, path: str | Path) -> None:
    """Raise ExternalDataError (exit 3) at the first element whose data lives outside the file.

    Every link of the file is visited without following soft or external links: each must be
    a hard link, and each dataset must store its data in the file (no external storage, no
    virtual layout).
    """
    problems: list[str] = []

    def visit(name: str, link: h5py.HardLink | h5py.SoftLink | h5py.ExternalLink) -> bool | None:
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"/{name} is an external link to {link.filename!r}:{link.path!r}")
        elif isinstance(link, h5py.SoftLink):
            problems.append(f"/{name} is a soft link to {link.path!r}")
        else:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                problem = _dataset_problem(obj)
                if problem:
                    problems.append(f"/{name} {problem}")
        return True if problems else None  # stop at the first problem

    f.visititems_links(visit)
    if problems:
        msg = (
            f"{path}: {problems[0]}. Every element of a code file must live in the file itself "
            "(no external storage, external or soft links, or virtual datasets); actcode never reads "
            "another file on a file's behalf. Re-create the file with 'actcode extract'."
        )
        raise ExternalDataError(msg)
