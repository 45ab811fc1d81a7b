from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_STATE_READY: _ClassVar[NodeState]
    NODE_STATE_SUSPECT: _ClassVar[NodeState]
    NODE_STATE_DOWN: _ClassVar[NodeState]
NODE_STATE_UNSPECIFIED: NodeState
NODE_STATE_READY: NodeState
NODE_STATE_SUSPECT: NodeState
NODE_STATE_DOWN: NodeState

class Node(_message.Message):
    __slots__ = ("node_id", "site", "compute_class", "capacity", "free", "price_card", "labels", "state", "draining", "epoch", "registered_unix_ms", "last_heartbeat_unix_ms", "load", "running_jobs", "probe_address", "compute_center", "usage_public_key")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    PRICE_CARD_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    PROBE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CENTER_FIELD_NUMBER: _ClassVar[int]
    USAGE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    site: str
    compute_class: _common_pb2.ComputeClass
    capacity: _common_pb2.Capacity
    free: _common_pb2.Capacity
    price_card: _common_pb2.PriceCard
    labels: _containers.ScalarMap[str, str]
    state: NodeState
    draining: bool
    epoch: int
    registered_unix_ms: int
    last_heartbeat_unix_ms: int
    load: float
    running_jobs: int
    probe_address: str
    compute_center: str
    usage_public_key: bytes
    def __init__(self, node_id: _Optional[str] = ..., site: _Optional[str] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., capacity: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., free: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., price_card: _Optional[_Union[_common_pb2.PriceCard, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[NodeState, str]] = ..., draining: _Optional[bool] = ..., epoch: _Optional[int] = ..., registered_unix_ms: _Optional[int] = ..., last_heartbeat_unix_ms: _Optional[int] = ..., load: _Optional[float] = ..., running_jobs: _Optional[int] = ..., probe_address: _Optional[str] = ..., compute_center: _Optional[str] = ..., usage_public_key: _Optional[bytes] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("request_id", "node_id", "site", "compute_class", "capacity", "price_card", "labels", "probe_address", "compute_center", "usage_public_key")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_CARD_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PROBE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CENTER_FIELD_NUMBER: _ClassVar[int]
    USAGE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    node_id: str
    site: str
    compute_class: _common_pb2.ComputeClass
    capacity: _common_pb2.Capacity
    price_card: _common_pb2.PriceCard
    labels: _containers.ScalarMap[str, str]
    probe_address: str
    compute_center: str
    usage_public_key: bytes
    def __init__(self, request_id: _Optional[str] = ..., node_id: _Optional[str] = ..., site: _Optional[str] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., capacity: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., price_card: _Optional[_Union[_common_pb2.PriceCard, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., probe_address: _Optional[str] = ..., compute_center: _Optional[str] = ..., usage_public_key: _Optional[bytes] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("node", "epoch", "heartbeat_interval_ms")
    NODE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    node: Node
    epoch: int
    heartbeat_interval_ms: int
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., epoch: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class RttSample(_message.Message):
    __slots__ = ("site", "rtt_ms")
    SITE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    site: str
    rtt_ms: float
    def __init__(self, site: _Optional[str] = ..., rtt_ms: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "epoch", "seq", "sent_unix_ms", "free", "load", "running_jobs", "rtts", "ack_requested")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    RTTS_FIELD_NUMBER: _ClassVar[int]
    ACK_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    epoch: int
    seq: int
    sent_unix_ms: int
    free: _common_pb2.Capacity
    load: float
    running_jobs: int
    rtts: _containers.RepeatedCompositeFieldContainer[RttSample]
    ack_requested: bool
    def __init__(self, node_id: _Optional[str] = ..., epoch: _Optional[int] = ..., seq: _Optional[int] = ..., sent_unix_ms: _Optional[int] = ..., free: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., load: _Optional[float] = ..., running_jobs: _Optional[int] = ..., rtts: _Optional[_Iterable[_Union[RttSample, _Mapping]]] = ..., ack_requested: _Optional[bool] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("seq", "state", "draining", "server_unix_ms", "heartbeat_interval_ms")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    SERVER_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    state: NodeState
    draining: bool
    server_unix_ms: int
    heartbeat_interval_ms: int
    def __init__(self, seq: _Optional[int] = ..., state: _Optional[_Union[NodeState, str]] = ..., draining: _Optional[bool] = ..., server_unix_ms: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class HeartbeatOnceRequest(_message.Message):
    __slots__ = ("heartbeat",)
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    heartbeat: HeartbeatRequest
    def __init__(self, heartbeat: _Optional[_Union[HeartbeatRequest, _Mapping]] = ...) -> None: ...

class HeartbeatOnceResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: HeartbeatResponse
    def __init__(self, ack: _Optional[_Union[HeartbeatResponse, _Mapping]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("request_id", "node_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    node_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., node_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class UndrainRequest(_message.Message):
    __slots__ = ("request_id", "node_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    node_id: str
    def __init__(self, request_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class UndrainResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class DeregisterRequest(_message.Message):
    __slots__ = ("request_id", "node_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    node_id: str
    def __init__(self, request_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class DeregisterResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class GetNodeRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class GetNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("site", "compute_class", "state", "page_size", "page_token")
    SITE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    site: str
    compute_class: _common_pb2.ComputeClass
    state: NodeState
    page_size: int
    page_token: str
    def __init__(self, site: _Optional[str] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., state: _Optional[_Union[NodeState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes", "next_page_token", "total")
    NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    next_page_token: str
    total: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetPoolsRequest(_message.Message):
    __slots__ = ("anchor_site", "tiers")
    ANCHOR_SITE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    anchor_site: str
    tiers: _containers.RepeatedScalarFieldContainer[_common_pb2.Tier]
    def __init__(self, anchor_site: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[_common_pb2.Tier, str]]] = ...) -> None: ...

class PoolSite(_message.Message):
    __slots__ = ("site", "rtt_ms", "measured", "nodes_ready", "nodes_total", "capacity", "free")
    SITE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    NODES_READY_FIELD_NUMBER: _ClassVar[int]
    NODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    site: str
    rtt_ms: float
    measured: bool
    nodes_ready: int
    nodes_total: int
    capacity: _common_pb2.Capacity
    free: _common_pb2.Capacity
    def __init__(self, site: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., measured: _Optional[bool] = ..., nodes_ready: _Optional[int] = ..., nodes_total: _Optional[int] = ..., capacity: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., free: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("anchor_site", "tier", "bound_ms", "sites", "nodes_ready", "capacity", "free")
    ANCHOR_SITE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    BOUND_MS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    NODES_READY_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    anchor_site: str
    tier: _common_pb2.Tier
    bound_ms: float
    sites: _containers.RepeatedCompositeFieldContainer[PoolSite]
    nodes_ready: int
    capacity: _common_pb2.Capacity
    free: _common_pb2.Capacity
    def __init__(self, anchor_site: _Optional[str] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., bound_ms: _Optional[float] = ..., sites: _Optional[_Iterable[_Union[PoolSite, _Mapping]]] = ..., nodes_ready: _Optional[int] = ..., capacity: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., free: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ...) -> None: ...

class GetPoolsResponse(_message.Message):
    __slots__ = ("pools",)
    POOLS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    def __init__(self, pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ...) -> None: ...

class Site(_message.Message):
    __slots__ = ("site", "display_name", "region", "latitude", "longitude")
    SITE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    site: str
    display_name: str
    region: str
    latitude: float
    longitude: float
    def __init__(self, site: _Optional[str] = ..., display_name: _Optional[str] = ..., region: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class RttEntry(_message.Message):
    __slots__ = ("from_site", "to_site", "rtt_ms", "measured")
    FROM_SITE_FIELD_NUMBER: _ClassVar[int]
    TO_SITE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    from_site: str
    to_site: str
    rtt_ms: float
    measured: bool
    def __init__(self, from_site: _Optional[str] = ..., to_site: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., measured: _Optional[bool] = ...) -> None: ...

class TierBound(_message.Message):
    __slots__ = ("tier", "bound_ms")
    TIER_FIELD_NUMBER: _ClassVar[int]
    BOUND_MS_FIELD_NUMBER: _ClassVar[int]
    tier: _common_pb2.Tier
    bound_ms: float
    def __init__(self, tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., bound_ms: _Optional[float] = ...) -> None: ...

class GetTopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTopologyResponse(_message.Message):
    __slots__ = ("sites", "rtts", "tiers")
    SITES_FIELD_NUMBER: _ClassVar[int]
    RTTS_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    rtts: _containers.RepeatedCompositeFieldContainer[RttEntry]
    tiers: _containers.RepeatedCompositeFieldContainer[TierBound]
    def __init__(self, sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ..., rtts: _Optional[_Iterable[_Union[RttEntry, _Mapping]]] = ..., tiers: _Optional[_Iterable[_Union[TierBound, _Mapping]]] = ...) -> None: ...
