from shuniu.protos.v1 import common_pb2 as _common_pb2
from shuniu.protos.v1 import jobs_pb2 as _jobs_pb2
from shuniu.protos.v1 import nodes_pb2 as _nodes_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetOverviewRequest(_message.Message):
    __slots__ = ("anchor_site",)
    ANCHOR_SITE_FIELD_NUMBER: _ClassVar[int]
    anchor_site: str
    def __init__(self, anchor_site: _Optional[str] = ...) -> None: ...

class FleetCounts(_message.Message):
    __slots__ = ("ready", "suspect", "down", "draining")
    READY_FIELD_NUMBER: _ClassVar[int]
    SUSPECT_FIELD_NUMBER: _ClassVar[int]
    DOWN_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    ready: int
    suspect: int
    down: int
    draining: int
    def __init__(self, ready: _Optional[int] = ..., suspect: _Optional[int] = ..., down: _Optional[int] = ..., draining: _Optional[int] = ...) -> None: ...

class TierQueue(_message.Message):
    __slots__ = ("tier", "jobs", "oldest_wait_ms")
    TIER_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    tier: _common_pb2.Tier
    jobs: int
    oldest_wait_ms: int
    def __init__(self, tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., jobs: _Optional[int] = ..., oldest_wait_ms: _Optional[int] = ...) -> None: ...

class JobStateCount(_message.Message):
    __slots__ = ("state", "jobs")
    STATE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    state: _jobs_pb2.JobState
    jobs: int
    def __init__(self, state: _Optional[_Union[_jobs_pb2.JobState, str]] = ..., jobs: _Optional[int] = ...) -> None: ...

class JobRates(_message.Message):
    __slots__ = ("admitted_per_s", "scheduled_per_s", "ended_per_s", "window_s")
    ADMITTED_PER_S_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_PER_S_FIELD_NUMBER: _ClassVar[int]
    ENDED_PER_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    admitted_per_s: float
    scheduled_per_s: float
    ended_per_s: float
    window_s: float
    def __init__(self, admitted_per_s: _Optional[float] = ..., scheduled_per_s: _Optional[float] = ..., ended_per_s: _Optional[float] = ..., window_s: _Optional[float] = ...) -> None: ...

class StartupSummary(_message.Message):
    __slots__ = ("runs", "p50_ms", "p99_ms", "max_ms")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    runs: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    def __init__(self, runs: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., max_ms: _Optional[float] = ...) -> None: ...

class GetOverviewResponse(_message.Message):
    __slots__ = ("server_unix_ms", "anchor_site", "fleet", "pools", "queue", "open_jobs", "ended_jobs", "rates", "sandbox_startup", "billing_lag_ms", "unbilled_batches", "uptime_s")
    SERVER_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_SITE_FIELD_NUMBER: _ClassVar[int]
    FLEET_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    OPEN_JOBS_FIELD_NUMBER: _ClassVar[int]
    ENDED_JOBS_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_STARTUP_FIELD_NUMBER: _ClassVar[int]
    BILLING_LAG_MS_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    server_unix_ms: int
    anchor_site: str
    fleet: FleetCounts
    pools: _containers.RepeatedCompositeFieldContainer[_nodes_pb2.Pool]
    queue: _containers.RepeatedCompositeFieldContainer[TierQueue]
    open_jobs: _containers.RepeatedCompositeFieldContainer[JobStateCount]
    ended_jobs: _containers.RepeatedCompositeFieldContainer[JobStateCount]
    rates: JobRates
    sandbox_startup: StartupSummary
    billing_lag_ms: int
    unbilled_batches: int
    uptime_s: float
    def __init__(self, server_unix_ms: _Optional[int] = ..., anchor_site: _Optional[str] = ..., fleet: _Optional[_Union[FleetCounts, _Mapping]] = ..., pools: _Optional[_Iterable[_Union[_nodes_pb2.Pool, _Mapping]]] = ..., queue: _Optional[_Iterable[_Union[TierQueue, _Mapping]]] = ..., open_jobs: _Optional[_Iterable[_Union[JobStateCount, _Mapping]]] = ..., ended_jobs: _Optional[_Iterable[_Union[JobStateCount, _Mapping]]] = ..., rates: _Optional[_Union[JobRates, _Mapping]] = ..., sandbox_startup: _Optional[_Union[StartupSummary, _Mapping]] = ..., billing_lag_ms: _Optional[int] = ..., unbilled_batches: _Optional[int] = ..., uptime_s: _Optional[float] = ...) -> None: ...
