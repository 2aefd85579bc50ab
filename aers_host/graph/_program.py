"""Lane programs: a worker thread's share of every block, compiled into one GIL-free loop.

Python holds one lock, the GIL, while it runs. Two engine threads each calling a numba
kernel per node hand it back and forth at every node, and on a virtual machine each
hand-off wakes a sleeping thread (~20 µs): more than the node's work at 128 frames, so a
threaded engine built that way ran *slower* than one thread (docs/architecture.md, "Two
cores"). A lane program removes every hand-off from the worker's side:

* Each node of the worker's lanes offers its block as one kernel call
  (:class:`~aers_host._processor.BlockKernel`). The program is Python source generated
  from those calls — per level, the lane's nodes in plan order, each followed by the
  NaN/Inf screen and a clock read for its time — compiled by numba with ``nogil``.
* The worker thread enters the program once and stays in it: it waits for the audio
  thread's "go" word (:mod:`._spin`: spin, then nap), runs the level it is told, writes
  "done", and waits again, never taking the GIL. The audio thread meanwhile runs its own
  lane in Python (its kernels release the GIL, which nobody else wants) and then waits
  for "done" the same way.
* Only full blocks run here: the final, shorter block of a render runs every lane on the
  audio thread, in the same order, so the output stays bit-identical.

Control words (``int64``; written by one side, read by the other):
``GO`` block sequence number the audio thread asks for; ``DONE`` the last one finished;
``START`` the block's first sample; ``LEVEL`` which of the program's levels to run;
``STOP`` non-zero to leave; ``BAD`` non-zero when a node's block was replaced;
``GO_SLEEPER``/``DONE_SLEEPER`` set while the worker/the audio thread sleeps on that
word (so the other side wakes it, see :mod:`._spin`).

Programs are cached by their shape (kernels, argument counts, fallbacks): in memory, so
engines of one graph compile once per process, and on disk, so the next ``aers render``
of that graph does not compile at all. A program is written as a module under
``cache_dir()/lanes`` (user-only), named by a hash of its source and of the code it calls
(the kernels' modules, this package's compiled helpers, numba's version), and compiled
with numba's ``cache=True``; changing any of those files gives a new name, so a stale
program is never loaded. The file is compared with the source before it is imported,
and the folder must be the user's own and writable by nobody else (numba unpickles its
cache files): otherwise, or where nothing can be written, the program is compiled from
memory instead.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import stat
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .._denormals import FlushDenormals
from .._jit import LazyKernel
from .._paths import atomic_write, cache_dir, ensure_private_dir
from .._processor import BlockKernel, compiled
from .._threads import helper_thread
from ..errors import GraphError
from ._spin import nudge_word, publish_block, signal_word, wait_for_word

GO, DONE, START, LEVEL, STOP, BAD, GO_SLEEPER, DONE_SLEEPER = range(8)
#: How long the audio thread waits inside compiled code before it looks, in Python,
#: whether the worker is still alive.
CHECK_ALIVE_NS: Final = 100_000_000
#: Seconds :meth:`LaneProgram.close` waits for the worker to leave its program.
JOIN_TIMEOUT_S: Final = 5.0
#: Most nodes one program runs: compiling grows with its size (3–7 s for two programs
#: of 16 nodes), so a larger share of a graph stays on Python lanes.
MAX_PROGRAM_NODES: Final = 64


@dataclass(frozen=True, slots=True)
class ProgramStep:
    """One node of a lane program: its block call and its NaN/Inf screen.

    ``block.args`` start with the node's input and output views: the screen checks the
    output and falls back to the input (``bypass``) or silence.
    """

    node: int
    block: BlockKernel
    bypass: bool
    screen: bool


def _source(
    shape: tuple[tuple[tuple[int, bool, bool], ...], ...],
    imports: Sequence[tuple[str, str]],
    threaded: bool,
) -> str:
    """A program's module source: per level, per step (args, bypass, screen).

    ``imports[j]`` is the module and name of step ``j``'s kernel, bound to ``k{j}``.
    ``threaded``: a worker's loop (wait for "go", run the level, store "done", again);
    else one call that runs ``level`` of the block at ``start`` and returns.
    """
    pad = " " * 8
    params: list[str] = []
    body: list[str] = []
    j = 0
    for level, steps in enumerate(shape):
        body.append(f"{pad}{'if' if level == 0 else 'elif'} level == {level}:")
        for nargs, bypass, screen in steps:
            names = [f"a{j}_{m}" for m in range(nargs)]
            params += names
            body.append(f"{pad}    k{j}({', '.join(names)}, start)")
            if screen:
                body += [
                    f"{pad}    if not all_finite(a{j}_1):",
                    f"{pad}        replace_nonfinite(a{j}_1, a{j}_0, {bypass})",
                    f"{pad}        bad[{j}] = 1",
                    f"{pad}        store_word(words, BAD, 1)",
                ]
            body.append(f"{pad}    t = monotonic_ns(); times[index[{j}]] = t - t0; t0 = t")
            j += 1
    head = [
        '"""An AERS lane program (generated by aers_host.graph._program; safe to delete)."""',
        "from numba import njit",
        "from aers_host.graph._kernels import all_finite, replace_nonfinite",
        "from aers_host.graph._spin import (",
        "    load_word, monotonic_ns, signal_word, store_word, wait_for_word,",
        ")",
        "from aers_host.graph._program import (",
        "    BAD, CHECK_ALIVE_NS, DONE, DONE_SLEEPER, GO, GO_SLEEPER, LEVEL, START, STOP,",
        ")",
        *(f"from {module} import {name} as k{k}" for k, (module, name) in enumerate(imports)),
        "",
        "",
        "@njit(nogil=True, cache=CACHE)",
    ]
    if not threaded:
        return "\n".join([
            *head,
            f"def program(words, times, index, bad, {', '.join(params)}, level, start):",
            "    for _ in range(1):  # the worker's loop body, run once",
            "        t0 = monotonic_ns()",
            *body,
            "",
        ])  # fmt: skip
    return "\n".join([
        *head,
        f"def program(words, times, index, bad, {', '.join(params)}):",
        "    seq = 0",
        "    while True:",
        "        seq += 1",
        "        while not wait_for_word(words, GO, seq, CHECK_ALIVE_NS, GO_SLEEPER):",
        "            pass",
        "        if load_word(words, STOP) != 0:",
        "            return",
        "        start = load_word(words, START)",
        "        level = load_word(words, LEVEL)",
        "        t0 = monotonic_ns()",
        *body,
        "        signal_word(words, DONE, seq, DONE_SLEEPER)",
        "",
    ])  # fmt: skip


def _import_path(kernel: Any) -> tuple[str, str]:
    """Where ``kernel`` (a lazy kernel or a numba dispatcher) is a module global.

    Raises:
        GraphError: it is not reachable by its module and name.
    """
    fn = kernel.__wrapped__ if isinstance(kernel, LazyKernel) else getattr(kernel, "py_func", None)
    module, name = getattr(fn, "__module__", ""), getattr(fn, "__name__", "")
    found = getattr(sys.modules.get(module), name, None)
    same = found is kernel or (
        isinstance(found, LazyKernel) and found.materialized and found.dispatcher is kernel
    ) or (isinstance(kernel, LazyKernel) and kernel.materialized and found is kernel.dispatcher)
    if not same:
        raise GraphError(f"block kernel {kernel!r} is not a module global")
    return module, name


_fingerprints: dict[str, bytes] = {}


def _fingerprint(modules: Sequence[str]) -> bytes | None:
    """A digest of the code a program runs: its kernels' modules and the helpers here.

    None when a kernel's module has no source file (a notebook's, say): nothing on disk
    names its code, so a cached program could run another notebook's kernel of the same
    name; such programs are compiled from memory.
    """
    import numba

    digest = hashlib.sha256(numba.__version__.encode())
    helpers = ("aers_host.graph._kernels", "aers_host.graph._spin", __name__)
    for module in sorted({*modules, *helpers, "aers_host.dsp._vecmath"}):
        if module not in _fingerprints:
            file = getattr(sys.modules.get(module), "__file__", None)
            if not file:
                return None
            _fingerprints[module] = Path(file).read_bytes()
        digest.update(hashlib.sha256(_fingerprints[module]).digest())
    return digest.digest()


def _load(source: str, imports: Sequence[tuple[str, str]]) -> Any:
    """The ``program`` of ``source``: from the disk cache, or compiled from memory."""
    fingerprint = _fingerprint([m for m, _ in imports])
    tag = hashlib.sha256(source.encode() + (fingerprint or b"")).hexdigest()
    name = f"aers_lane_{tag[:24]}"
    if fingerprint is not None:
        try:
            return _import_cached(source, name)
        except OSError:  # no private, writable cache: compile from memory, every process
            pass
    names: dict[str, Any] = {"CACHE": False, "__name__": name}
    exec(compile(source, f"<{name}>", "exec"), names)  # noqa: S102 - our generated code
    return names["program"]


def _import_cached(source: str, name: str) -> Any:
    """Write ``source`` as module ``name`` in the cache folder (if not there) and import it.

    Raises:
        OSError: the folder is not private, or cannot be written.
    """
    folder = _private_folder(cache_dir() / "lanes")
    path = folder / f"{name}.py"
    if not path.is_file() or path.read_text("utf-8") != source:
        atomic_write(path, source.encode())
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.CACHE = True  # type: ignore[attr-defined]
        sys.modules[name] = module  # numba's on-disk cache finds its globals by name
        spec.loader.exec_module(module)
    return module.program


def _private_folder(path: Path) -> Path:
    """``path``, created user-only; refused unless it is ours and only we can write it.

    What is in it gets imported, and numba unpickles its cache files there: a folder
    others can write would let them run code in this process.

    Raises:
        OSError: it cannot be created, or it is not private.
    """
    ensure_private_dir(path)
    info = os.stat(path)
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"{path} is writable by others; not loading programs from it")
    return path


_compiled: dict[str, Any] = {}
_compile_lock = threading.Lock()


def lanes_key(levels: Sequence[Sequence[ProgramStep]]) -> tuple[Any, ...]:
    """What a program is bound to: each step's node, kernel, argument objects and screen.

    Equal keys mean an existing program still makes exactly these calls (the engine's
    views and the processors' arrays are the same objects), so it can stay running.
    """
    return tuple(
        tuple(
            (step.node, id(step.block.kernel), tuple(map(id, step.block.args)),
             step.bypass, step.screen)
            for step in steps
        )
        for steps in levels
    )  # fmt: skip


def _source_for(levels: Sequence[Sequence[ProgramStep]], threaded: bool) -> tuple[str, Any]:
    imports = [_import_path(step.block.kernel) for steps in levels for step in steps]
    shape = tuple(
        tuple((len(step.block.args), step.bypass, step.screen) for step in steps)
        for steps in levels
    )
    return _source(shape, imports, threaded), imports


def programs_compiled(
    worker_levels: Sequence[Sequence[Sequence[ProgramStep]]],
    own_levels: Sequence[Sequence[ProgramStep]] | None,
) -> bool:
    """[any-thread] Whether these programs were compiled in this process already.

    A real-time engine made while audio plays (a live edit's) uses lane programs only
    then: compiling holds the GIL for seconds, which the audio thread cannot wait for.
    """
    sources = [_source_for(levels, threaded=True)[0] for levels in worker_levels]
    if own_levels is not None:
        sources.append(_source_for(own_levels, threaded=False)[0])
    return all(source in _compiled for source in sources)


def _program_for(levels: Sequence[Sequence[ProgramStep]], threaded: bool) -> Any:
    """[main-thread] The numba dispatcher of the program of this shape (made once)."""
    source, imports = _source_for(levels, threaded)
    with _compile_lock:
        found = _compiled.get(source)
        if found is None:
            found = _compiled[source] = _load(source, imports)
    return found


class CompiledLanes:
    """What both kinds of program share: their nodes, words and replaced-block flags.

    A program writes each node's time straight into the engine's per-node ``times``
    (at the node's index), as the Python loop does.
    """

    def __init__(
        self, levels: Sequence[Sequence[ProgramStep]], times: npt.NDArray[np.int64]
    ) -> None:
        self.nodes = [step.node for steps in levels for step in steps]
        #: :func:`lanes_key` of the lanes this program runs.
        self.key = lanes_key(levels)
        self.words = np.zeros(8, np.int64)
        self.bad = np.zeros(len(self.nodes), np.int64)
        index = np.array(self.nodes, np.int64)
        args = [a for steps in levels for step in steps for a in step.block.args]
        self._head = (self.words, times, index, self.bad, *args)

    def replaced(self) -> list[int]:
        """[audio-thread & processing] Nodes whose last block was replaced (NaN/Inf), cleared."""
        if not self.words[BAD]:
            return []
        self.words[BAD] = 0
        hits = [self.nodes[j] for j in np.flatnonzero(self.bad)]
        self.bad.fill(0)
        return hits


class InlineLanes(CompiledLanes):
    """The engine thread's own lanes of the parallel levels, as one compiled call.

    While a worker runs its program, the engine thread runs its lane here instead of the
    Python loop, so neither side spends time in Python per node and the two halves take
    about as long. :attr:`run` is ``run(level, start)``, bound to the compiled entry
    point (no numba dispatch over the program's arguments at each block).
    """

    def __init__(
        self, levels: Sequence[Sequence[ProgramStep]], times: npt.NDArray[np.int64]
    ) -> None:
        """[main-thread & !active] Compile (or reuse) the program and bind it."""
        super().__init__(levels, times)
        entry = compiled(_program_for(levels, threaded=False), *self._head, 0, 0)
        self.run: Callable[[int, int], None] = functools.partial(entry, *self._head)


class LaneProgram(CompiledLanes):
    """A worker thread running its lanes of the parallel levels (see the module docstring).

    ``levels[k]`` holds the worker's steps in the ``k``-th level it takes part in.
    """

    def __init__(
        self, levels: Sequence[Sequence[ProgramStep]], times: npt.NDArray[np.int64], name: str
    ) -> None:
        """[main-thread & !active] Compile (or reuse) the program and start its thread.

        The first block waits for nothing more: the program is compiled for its exact
        argument types here, before the thread enters it.
        """
        super().__init__(levels, times)
        program = _program_for(levels, threaded=True)
        self.words[STOP] = 1  # a first call that only compiles, then returns
        self.words[GO] = 1
        program(*self._head)
        self.words[:] = 0
        self._seq = 0
        self._publish = compiled(publish_block, self.words, START, 0, LEVEL, 0, GO, 0, 0)
        self._nudge = compiled(nudge_word, self.words, GO, GO_SLEEPER)
        self._error: list[BaseException] = []
        self._thread = helper_thread(_Runner(program, self._head, self._error), name)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop, self.words, self._thread)

    def go(self, level: int, start: int) -> None:
        """[audio-thread & processing] Ask the worker to run ``level`` of the block at ``start``."""
        self._seq += 1
        self._publish(self.words, START, start, LEVEL, level, GO, self._seq, GO_SLEEPER)

    def nudge(self) -> None:
        """[audio-thread, between blocks] Get a sleeping worker spinning: a block is due soon."""
        self._nudge(self.words, GO, GO_SLEEPER)

    def wait(self) -> None:
        """[audio-thread & processing] Wait until the worker finished the block.

        Raises:
            GraphError: the worker left its program (a kernel raised); says why.
        """
        while not wait_for_word(self.words, DONE, self._seq, CHECK_ALIVE_NS, DONE_SLEEPER):
            if not self._thread.is_alive():
                why = f": {self._error[0]}" if self._error else ""
                raise GraphError(f"a lane worker stopped{why}")

    def close(self) -> None:
        """[main-thread & !processing] Leave the program and join the thread (idempotent)."""
        self._finalizer()


def _stop(words: npt.NDArray[np.int64], thread: threading.Thread) -> None:
    words[STOP] = 1
    signal_word(words, GO, np.iinfo(np.int64).max, GO_SLEEPER)
    if thread is not threading.current_thread():
        thread.join(JOIN_TIMEOUT_S)


class _Runner:
    """[worker-thread] Enter the program with denormals flushed; keep what it raised."""

    def __init__(self, program: Any, head: tuple[Any, ...], error: list[BaseException]) -> None:
        self._call = (program, head)
        self._error = error

    def __call__(self) -> None:
        program, head = self._call
        FlushDenormals().enter()  # this thread only runs DSP
        try:
            program(*head)
        except BaseException as err:  # reported by LaneProgram.wait
            self._error.append(err)
