"""Cross-thread signalling without the GIL: atomic words, a monotonic clock and a wait.

A lane program (:mod:`._program`) and the audio thread hand blocks to each other through
a small ``int64`` array of control words. Both sides must see each other's writes
without either holding the GIL (the whole point is that the program never takes it), so
the words are read with acquire and written with release ordering — LLVM atomics emitted
by two numba intrinsics — and the waits run compiled, GIL-free.

Why not a lock or a condition variable: on a virtual machine, waking a thread blocked in
the kernel costs ~20 µs each way (the idle vCPU has to be woken), as much as a branch's
whole block at 128 frames (docs/architecture.md, "Two cores"). A waiter therefore spins
for a bounded time, re-reading the word, and only then sleeps in the kernel on the word
itself (Linux ``futex``), after saying so in a "sleeper" word; whoever changes the word
(:func:`signal_word`) wakes it only when that flag is up. So a program waiting between
real-time blocks costs no CPU and still wakes at once when the next block comes. The
flag and the word are written and then the other one read with a full fence between,
on both sides (the classic Dekker handshake), so a wake-up is never lost. Where there is
no futex (not Linux on x86-64 or ARM64) the sleep is a short ``nanosleep`` instead.

The clock is ``clock_gettime(CLOCK_MONOTONIC)`` — the clock ``time.perf_counter_ns``
reads — so per-node times taken here and in Python are comparable. ``clock_gettime`` and
``nanosleep`` are declared as external C functions, resolved in the process like numba's
own ``printf``: nothing is bound at run time, so compiled callers can be cached on disk.
"""

from __future__ import annotations

import platform
from typing import Any, Final

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic

cgutils: Any = _cgutils  # numba's code-generation helpers are untyped

#: ``CLOCK_MONOTONIC`` on Linux.
_CLOCK_MONOTONIC: Final = 1
#: The ``futex`` system call's number on this machine (0: none, nap instead).
FUTEX_SYSCALL: Final = {"x86_64": 202, "amd64": 202, "aarch64": 98}.get(
    platform.machine().lower(), 0
)
_FUTEX_WAIT_PRIVATE: Final = 128
_FUTEX_WAKE_PRIVATE: Final = 129

_I64 = ir.IntType(64)


def _word_pointer(context: Any, builder: Any, array_type: Any, array: Any, index: Any) -> Any:
    made = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, made, [index])


def _load_typing(typingctx: Any, words: Any, index: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        pointer = _word_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, ordering="acquire", align=8)

    return types.int64(words, index), codegen


def _store_typing(typingctx: Any, words: Any, index: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        pointer = _word_pointer(context, builder, signature.args[0], args[0], args[1])
        word = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(word, pointer, ordering="release", align=8)
        return context.get_dummy_value()

    return types.none(words, index, value), codegen


def _timespec(builder: Any) -> tuple[Any, Any]:
    """A ``struct timespec`` on the stack (two int64) and its address as ``i8*``."""
    slot = cgutils.alloca_once(builder, ir.ArrayType(_I64, 2))
    return slot, builder.bitcast(slot, ir.IntType(8).as_pointer())


def _now_typing(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot, pointer = _timespec(builder)
        fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32), pointer.type])
        clock = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        builder.call(clock, [ir.Constant(ir.IntType(32), _CLOCK_MONOTONIC), pointer])
        zero = ir.Constant(ir.IntType(32), 0)
        sec = builder.load(builder.gep(slot, [zero, zero]))
        nsec = builder.load(builder.gep(slot, [zero, ir.Constant(ir.IntType(32), 1)]))
        return builder.add(builder.mul(sec, ir.Constant(_I64, 1_000_000_000)), nsec)

    return types.int64(), codegen


def _nap_typing(typingctx: Any, nanoseconds: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot, pointer = _timespec(builder)
        zero = ir.Constant(ir.IntType(32), 0)
        ns = context.cast(builder, args[0], signature.args[0], types.int64)
        builder.store(ir.Constant(_I64, 0), builder.gep(slot, [zero, zero]))
        builder.store(ns, builder.gep(slot, [zero, ir.Constant(ir.IntType(32), 1)]))
        fnty = ir.FunctionType(ir.IntType(32), [pointer.type, pointer.type])
        sleep = cgutils.get_or_insert_function(builder.module, fnty, "nanosleep")
        builder.call(sleep, [pointer, ir.Constant(pointer.type, None)])
        return context.get_dummy_value()

    return types.none(nanoseconds), codegen


def _fence_typing(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.none(), codegen


def _futex_typing(
    typingctx: Any, words: Any, index: Any, op: Any, value: Any, timeout_ns: Any
) -> Any:
    """``syscall(SYS_futex, &words[index], op, value, {timeout}, NULL, 0)``.

    The futex is the low 32 bits of the (little-endian) ``int64`` word.
    """

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()
        pointer = _word_pointer(context, builder, signature.args[0], args[0], args[1])
        slot, timespec = _timespec(builder)
        nanos = context.cast(builder, args[4], signature.args[4], types.int64)
        second = ir.Constant(_I64, 1_000_000_000)
        zero = ir.Constant(i32, 0)
        builder.store(builder.sdiv(nanos, second), builder.gep(slot, [zero, zero]))
        builder.store(builder.srem(nanos, second), builder.gep(slot, [zero, ir.Constant(i32, 1)]))
        op = context.cast(builder, args[2], signature.args[2], types.int64)
        value = context.cast(builder, args[3], signature.args[3], types.int64)
        fnty = ir.FunctionType(_I64, [_I64], var_arg=True)
        syscall = cgutils.get_or_insert_function(builder.module, fnty, "syscall")
        return builder.call(syscall, [
            ir.Constant(_I64, FUTEX_SYSCALL), builder.bitcast(pointer, i8p),
            builder.trunc(op, i32), builder.trunc(value, i32), timespec,
            ir.Constant(i8p, None), zero,
        ])  # fmt: skip

    return types.int64(words, index, op, value, timeout_ns), codegen


def _yield_typing(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = ir.FunctionType(ir.IntType(32), [])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        return context.get_dummy_value()

    return types.none(), codegen


#: ``load_word(words, i)``: ``words[i]`` read with acquire ordering.
load_word: Any = intrinsic(_load_typing)
#: ``store_word(words, i, v)``: ``words[i] = v`` with release ordering.
store_word: Any = intrinsic(_store_typing)
#: ``monotonic_ns()``: ``CLOCK_MONOTONIC`` in ns (``time.perf_counter_ns``'s clock).
monotonic_ns: Any = intrinsic(_now_typing)
#: ``nap(ns)``: sleep ``ns`` (< 1 s) nanoseconds.
nap: Any = intrinsic(_nap_typing)
#: ``give_way()``: let another runnable thread have this core (``sched_yield``).
give_way: Any = intrinsic(_yield_typing)
#: ``full_fence()``: no load or store moves across it, on the CPU or in the compiler.
full_fence: Any = intrinsic(_fence_typing)
#: ``futex(words, i, op, value, timeout_ns)``: the raw system call on ``words[i]``.
futex: Any = intrinsic(_futex_typing)

#: A waiter re-reads its word this long before it sleeps; it keeps the core for the
#: first :data:`HOT_NS` of that and gives way between reads after, so on a busy machine
#: the thread it waits for can run on this core.
SPIN_NS: Final = 100_000
HOT_NS: Final = 20_000
#: How long a waiter woken before its value spins again (covers a nudge's lead and a
#: sleeping caller's late wake-up).
WOKEN_SPIN_NS: Final = 400_000
#: Longest single sleep (the waiter then looks at the clock and sleeps again).
LONGEST_SLEEP_NS: Final = 50_000_000
#: A nap where there is no futex.
NAP_NS: Final = 50_000


@njit(cache=True, nogil=True)
def wait_for_word(
    words: Any, index: int, value: int, give_up_ns: int, sleeper: int
) -> bool:  # pragma: no cover - compiled
    """Wait until ``words[index] >= value``; False once ``give_up_ns`` passed first.

    Spins for :data:`SPIN_NS` (giving way after :data:`HOT_NS`), then sleeps on the
    word with ``words[sleeper]`` set, so :func:`signal_word` knows to wake it. Woken
    without the value (:func:`nudge_word`: a block is about to come), it spins again
    for :data:`WOKEN_SPIN_NS` before it sleeps again. Releases the GIL (a caller
    blocked here holds no lock). One waiter per word.
    """
    if load_word(words, index) >= value:
        return True
    began = monotonic_ns()
    spin_from, spin_for = began, SPIN_NS
    while True:
        for _ in range(64):
            if load_word(words, index) >= value:
                return True
        now = monotonic_ns()
        waited = now - began
        if waited >= give_up_ns:
            return False
        spun = now - spin_from
        if spun < HOT_NS:
            continue
        if spun < spin_for:
            give_way()
            continue
        if FUTEX_SYSCALL == 0:
            nap(NAP_NS)
            continue
        store_word(words, sleeper, 1)
        full_fence()  # the flag is visible before the word is read again
        seen = load_word(words, index)
        if seen < value:
            futex(words, index, _FUTEX_WAIT_PRIVATE, seen,
                  min(give_up_ns - waited, LONGEST_SLEEP_NS))  # fmt: skip
        store_word(words, sleeper, 0)
        spin_from, spin_for = monotonic_ns(), WOKEN_SPIN_NS


@njit(cache=True, nogil=True)
def nudge_word(words: Any, index: int, sleeper: int) -> None:  # pragma: no cover - compiled
    """Wake the waiter sleeping on ``words[index]`` (if it sleeps) without changing it.

    It spins for :data:`WOKEN_SPIN_NS` then: a real-time loop nudges a lane worker
    shortly before a block is due, so the block finds it awake (docs/architecture.md,
    "Two cores").
    """
    full_fence()
    if FUTEX_SYSCALL != 0 and load_word(words, sleeper) != 0:
        futex(words, index, _FUTEX_WAKE_PRIVATE, 1, 0)


@njit(cache=True, nogil=True)
def signal_word(words: Any, index: int, value: int, sleeper: int) -> None:  # pragma: no cover
    """``words[index] = value`` (release), and wake its waiter if it sleeps."""
    store_word(words, index, value)
    full_fence()  # the word is visible before the flag is read
    if FUTEX_SYSCALL != 0 and load_word(words, sleeper) != 0:
        futex(words, index, _FUTEX_WAKE_PRIVATE, 1, 0)


@njit(cache=True)
def publish_block(
    words: Any, start_at: int, start: int, level_at: int, level: int, go_at: int, seq: int,
    sleeper: int,
) -> None:  # pragma: no cover - compiled
    """Store a block's start and level, then signal its sequence number.

    Whoever sees ``words[go_at] == seq`` (an acquire load) also sees the start, the
    level and every buffer written before this call — on any CPU, not only x86.
    """
    store_word(words, start_at, start)
    store_word(words, level_at, level)
    signal_word(words, go_at, seq, sleeper)
