"""METEOR 1.5 through one persistent Java process; SPICE's offline limitation."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import threading
from typing import Sequence

import numpy as np

__all__ = ["JavaNotFoundError", "Meteor", "SpiceUnavailableError", "shared_meteor", "spice_score"]


class JavaNotFoundError(RuntimeError):
    """A metric that runs a Java program (METEOR) was asked for and Java is not available."""


class SpiceUnavailableError(RuntimeError):
    """SPICE was asked for; it needs Stanford CoreNLP 3.6.0, downloaded at first use."""


_SPICE_MESSAGE = (
    "SPICE is not available in polymodal: pycocoevalcap's SPICE needs the Stanford CoreNLP 3.6.0 "
    "jars (stanford-corenlp-3.6.0.jar and its models, ~400 MB) that it downloads from the internet "
    "at first use, so it cannot run offline. Leave 'spice' out of metrics; BLEU, ROUGE-L, CIDEr-D "
    "and METEOR run offline."
)


def spice_score(*args: object, **kwargs: object) -> None:
    """SPICE (Anderson, Fernando, Johnson & Gould, ECCV 2016) cannot run offline: always raises.

    Raises
    ------
    SpiceUnavailableError
        With the reason (a Stanford CoreNLP 3.6.0 download) and what to do instead.
    """
    raise SpiceUnavailableError(_SPICE_MESSAGE)


def _default_jar() -> str:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise JavaNotFoundError(
            "METEOR uses meteor-1.5.jar shipped inside the pycocoevalcap package, which is not "
            "installed: pip install pycocoevalcap (or pass jar=PATH to Meteor)."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "meteor", "meteor-1.5.jar")


def _clean(text: str) -> str:
    return " ".join(text.replace("|||", " ").split())


class Meteor:
    """METEOR 1.5 (Denkowski & Lavie, WMT 2014) scorer kept alive in one Java process.

    Runs ``java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm`` (the command
    pycocoevalcap uses, with its paraphrase table) once and feeds it every later
    call, so the ~10 s JVM and paraphrase-table start-up is paid once per
    process. The corpus score is the jar's aggregate over all segments,
    computed from the sufficient statistics of each candidate.

    Parameters
    ----------
    jar : str, optional
        Path to ``meteor-1.5.jar``; default: the one inside pycocoevalcap.
    java : str
        The Java executable.
    memory : str
        JVM heap size (``-Xmx``).

    Examples
    --------
    >>> with Meteor() as m:  # doctest: +SKIP
    ...     score, per_image = m.score(["a dog runs"], [["a dog is running", "the dog runs"]])
    """

    def __init__(self, jar: str | None = None, java: str = "java", memory: str = "2G") -> None:
        java_path = shutil.which(java)
        if java_path is None:
            raise JavaNotFoundError(
                f"METEOR needs a Java runtime to run meteor-1.5.jar, and {java!r} is not on PATH. "
                "Install Java (for example `apt-get install default-jre-headless`) or leave "
                "'meteor' out of metrics."
            )
        jar = jar or _default_jar()
        if not os.path.isfile(jar):
            raise JavaNotFoundError(f"METEOR jar not found: expected a file at {jar!r}")
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [java_path, "-jar", f"-Xmx{memory}", jar, "-", "-", "-stdio", "-l", "en", "-norm"],
            cwd=os.path.dirname(os.path.abspath(jar)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def _readline(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the METEOR Java process exited unexpectedly")
        return line.decode("utf-8").strip()

    def score(self, candidates: Sequence[str], references: Sequence[Sequence[str]],
              batch: int = 256) -> tuple[float, np.ndarray]:
        """Corpus METEOR and per-candidate METEOR (C,) of tokenised captions."""
        if self._proc is None:
            raise RuntimeError("this Meteor scorer is closed")
        if len(candidates) != len(references):
            raise ValueError(f"candidates and references must have the same length, got "
                             f"{len(candidates)} and {len(references)}")
        proc = self._proc
        assert proc.stdin is not None
        with self._lock:
            stats: list[str] = []
            for lo in range(0, len(candidates), batch):  # bounded batches: no pipe deadlock
                lines = []
                for hyp, refs in zip(candidates[lo:lo + batch], references[lo:lo + batch]):
                    parts = ["SCORE"] + [_clean(r) for r in refs] + [_clean(hyp)]
                    lines.append(" ||| ".join(parts) + "\n")
                proc.stdin.write("".join(lines).encode("utf-8"))
                proc.stdin.flush()
                stats.extend(self._readline() for _ in lines)
            proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode("utf-8"))
            proc.stdin.flush()
            per = np.array([float(self._readline()) for _ in stats])
            total = float(self._readline())
        return total, per

    def close(self) -> None:
        """Stop the Java process (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            finally:
                proc.kill()
                proc.wait()

    def __enter__(self) -> "Meteor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_SHARED: Meteor | None = None


def shared_meteor() -> Meteor:
    """The process-wide METEOR scorer :func:`score_captions` reuses (started on first use)."""
    global _SHARED
    if _SHARED is None or _SHARED._proc is None or _SHARED._proc.poll() is not None:
        _SHARED = Meteor()
        atexit.register(_SHARED.close)
    return _SHARED
