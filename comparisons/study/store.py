"""Durable storage of a study: one JSON file per replicate, written atomically.

Layout of the output folder::

    study.json                      the normalised configuration and its fingerprint
    replicates/c0003-r00012.json    one record per finished replicate (cell 3, replicate 12)

A record is written with :func:`mixcompare.comparisons.io.write_json_atomic`: to
a temporary name in the same folder, flushed and ``fsync``-ed, renamed with
:func:`os.replace` (atomic on POSIX) and the folder is ``fsync``-ed. A study
killed at any moment therefore leaves only complete records; a temporary file
left behind by the kill is removed when the study resumes. The file name is the
replicate's key, so there is never more than one record of a replicate. Only the
process that drives the study (the Dask client) writes, so the workers need no
shared file system.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from mixcompare.comparisons.io import write_json_atomic

__all__ = ["RECORD_SCHEMA", "Store", "StoreError"]

RECORD_SCHEMA = "mixcompare.study.replicate/1"
_NAME = re.compile(r"^c(\d{4,})-r(\d{5,})\.json$")
_log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The output folder holds another study, or records without ``--resume``."""


class Store:
    """The output folder of one study.

    Parameters
    ----------
    root : str or Path
        Created if needed.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.records_dir = self.root / "replicates"

    @staticmethod
    def record_name(cell: int, replicate: int) -> str:
        """File name of a replicate's record."""
        return f"c{cell:04d}-r{replicate:05d}.json"

    def path(self, cell: int, replicate: int) -> Path:
        """Path of a replicate's record."""
        return self.records_dir / self.record_name(cell, replicate)

    def open(self, config, *, resume: bool) -> set:
        """Prepare the folder for ``config`` and return the replicates already finished.

        Parameters
        ----------
        config : StudyConfig
        resume : bool
            Keep and skip finished replicates. Without it, a folder that
            already holds records is refused (nothing is overwritten).

        Returns
        -------
        set of (int, int)
            ``(cell, replicate)`` of every complete record (records of
            replicates that failed for an infrastructure reason, status
            ``"error"``, are not counted: they run again).

        Raises
        ------
        StoreError
            The folder holds records of a study with another configuration,
            or holds records and ``resume`` is False.
        """
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out {self.root} exists and is not a folder; choose another path.")
        self.records_dir.mkdir(parents=True, exist_ok=True)
        manifest = self.root / "study.json"
        fp = config.fingerprint()
        existing = self.finished()
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint")
            except (ValueError, AttributeError, OSError) as err:
                raise StoreError(
                    f"{manifest} cannot be read ({type(err).__name__}: {err}); it was cut short "
                    "or edited: move the folder away, or choose another --out.") from None
            if old != fp:
                raise StoreError(
                    f"{self.root} holds a study with another configuration (fingerprint "
                    f"{str(old)[:12]} != {fp[:12]}); use another --out folder (only the "
                    "number of replicates and the name may change on --resume).")
        if existing and not resume:
            raise StoreError(
                f"{self.root} already holds {len(existing)} replicate record(s); pass --resume "
                "to continue that study, or choose another --out folder.")
        for tmp in self.records_dir.glob(".*.tmp"):  # left by a killed run: never a record
            tmp.unlink(missing_ok=True)
        write_json_atomic(manifest, {"fingerprint": fp, "config": config.to_dict()})
        return existing

    def _scan(self):
        if not self.records_dir.is_dir():
            return
        for p in sorted(self.records_dir.iterdir()):
            m = _NAME.match(p.name)
            if m:
                yield (int(m.group(1)), int(m.group(2))), p

    def _read(self, path: Path) -> dict | None:
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # cannot happen with atomic writes; be safe
            _log.warning("unreadable record %s (%s): it will be run again", path.name, err)
            return None
        if not isinstance(rec, dict) or rec.get("schema") != RECORD_SCHEMA:
            _log.warning("record %s has an unknown schema: it will be run again", path.name)
            return None
        return rec

    def finished(self) -> set:
        """``(cell, replicate)`` of every complete record whose status is not ``"error"``."""
        out = set()
        for key, path in self._scan():
            rec = self._read(path)
            if rec is not None and rec.get("status") != "error":
                out.add(key)
        return out

    def write(self, record: dict) -> Path:
        """Write one replicate's record durably (replacing an ``"error"`` record)."""
        self.records_dir.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(self.path(record["cell"], record["replicate"]), record)

    def load(self, config=None) -> list[dict]:
        """Every readable record, sorted by cell and replicate.

        Parameters
        ----------
        config : StudyConfig, optional
            Keep only the records of its cells and replicates.
        """
        out = []
        for (c, r), path in self._scan():
            if config is not None and (c >= len(config.cells) or r >= config.replicates):
                continue
            rec = self._read(path)
            if rec is not None:
                out.append(rec)
        return out
