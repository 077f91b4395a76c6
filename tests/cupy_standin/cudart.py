"""``cupy.cuda`` of the stand-in: one "device" that always answers, streams, events, runtime queries.

Work is done eagerly on the CPU, so synchronising is a no-op; events record ``perf_counter``.
"""
from __future__ import annotations

import time
import types

from .functions import unsupported

DEVICE_NAME = "CuPy stand-in (CPU)"


class CUDARuntimeError(RuntimeError):
    pass


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    compute_capability = "90"

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Stream:
    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        pass

    def synchronize(self):
        pass

    def use(self):
        return self

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    done = property(lambda self: True)


Stream.null = Stream()


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        pass

    done = property(lambda self: True)


def get_elapsed_time(start_event, end_event):
    return (end_event._t - start_event._t) * 1e3


def get_current_stream(device_id=-1):
    return Stream.null


def _runtime(names):
    rt = types.ModuleType("cupy.cuda.runtime")
    own = {
        "CUDARuntimeError": CUDARuntimeError,
        "getDeviceCount": lambda: 1,
        "getDevice": lambda: 0,
        "setDevice": lambda device: None,
        "deviceSynchronize": lambda: None,
        "runtimeGetVersion": lambda: 12080,
        "driverGetVersion": lambda: 12080,
        "getDeviceProperties": lambda device: {"name": DEVICE_NAME.encode(), "totalGlobalMem": 2 ** 34,
                                               "multiProcessorCount": 1, "major": 9, "minor": 0,
                                               "memoryClockRate": 0, "memoryBusWidth": 0},
        "memGetInfo": lambda: (2 ** 34, 2 ** 34),
    }
    for name in names["cuda.runtime"]:
        setattr(rt, name, own.get(name) or unsupported(f"cupy.cuda.runtime.{name}"))
    return rt


def build(names):
    cuda = types.ModuleType("cupy.cuda")
    own = {"Device": Device, "Stream": Stream, "Event": Event, "CUDARuntimeError": CUDARuntimeError,
           "get_current_stream": get_current_stream, "get_elapsed_time": get_elapsed_time,
           "runtime": _runtime(names), "is_available": lambda: True, "get_device_id": lambda: 0}
    for name in names["cuda"]:
        setattr(cuda, name, own.get(name) or unsupported(f"cupy.cuda.{name}"))
    return cuda
