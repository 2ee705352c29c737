"""Saving an uploaded file: streamed to disk under a name of ours, with a size
limit, never trusting the name the browser sent. Part of the public plugin API
through :mod:`crmcore.web.kit`."""

from __future__ import annotations

from pathlib import Path

from werkzeug.datastructures import FileStorage


class UploadProblem(Exception):
    """The upload cannot be used; the message says why, ``status`` how to answer
    (422, or 413 when it is too large)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def size_label(size: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


# Files of rows: CSV, tab-separated text as tools export it, Excel workbooks.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")


def save_upload(upload: FileStorage | None, target: Path, limit: int, *,
                suffixes: tuple[str, ...] = TABLE_SUFFIXES, kind: str = "CSV or .xlsx") -> str:
    """Stream ``upload`` into ``target`` (a path the caller chose), at most
    ``limit`` bytes; returns the original file name, cleaned, for display only.
    Nothing is left on disk when it fails."""
    filename = (upload.filename or "").strip() if upload else ""
    if not upload or not filename:
        raise UploadProblem(f"Choose a {kind} file to upload.")
    if not filename.lower().endswith(suffixes):
        raise UploadProblem(f"Only {', '.join(suffixes)} files can be uploaded here; "
                            f"save it as {kind} first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with open(target, "wb") as out:
            while chunk := upload.stream.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise UploadProblem(f"The file is larger than {size_label(limit)}; "
                                        "split it into smaller files.", 413)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise UploadProblem("The file is empty.")
    return Path(filename.replace("\\", "/")).name[:255]
