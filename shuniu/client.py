"""Client: the one facade through which the CLI and the tests talk to the control plane."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc

from shuniu.protos.v1 import (
    audit_pb2_grpc, catalog_pb2_grpc, grants_pb2_grpc, jobs_pb2_grpc, ledger_pb2_grpc, negative_list_pb2_grpc, nodes_pb2,
    nodes_pb2_grpc, settlement_pb2_grpc,
)
from shuniu.protos.v1 import analyses_pb2_grpc, overview_pb2_grpc
from shuniu.protos.v1 import credit_pb2_grpc, usage_pb2_grpc
from shuniu.security import tls as tls_config

# `tls` of Client: this value means "from $SHUNIU_TLS_DIR / $SHUNIU_IDENTITY, plaintext when unset".
FROM_ENV = "env"


def new_request_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class Client:
    """A blocking client over one channel; each call takes a deadline."""

    def __init__(self, address: str, timeout_s: float = 10.0,
                 tls: tls_config.ClientTls | None | str = FROM_ENV) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.tls = tls_config.client_tls_from_env(address) if isinstance(tls, str) else tls
        self.channel = tls_config.channel(address, self.tls)
        self.nodes = nodes_pb2_grpc.NodeServiceStub(self.channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)
        self.negative_list = negative_list_pb2_grpc.NegativeListServiceStub(self.channel)
        self.grants = grants_pb2_grpc.GrantServiceStub(self.channel)
        self.analyses = analyses_pb2_grpc.AnalysisServiceStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.vouchers = ledger_pb2_grpc.VoucherServiceStub(self.channel)
        self.settlement = settlement_pb2_grpc.SettlementServiceStub(self.channel)
        self.fees = settlement_pb2_grpc.FeeScheduleServiceStub(self.channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(self.channel)
        self.overview = overview_pb2_grpc.OverviewServiceStub(self.channel)
        self.credit = credit_pb2_grpc.CreditServiceStub(self.channel)
        self.usage = usage_pb2_grpc.UsageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serving(self) -> bool:
        """Whether the control plane answers right now (used while waiting for it to start)."""
        try:
            self.nodes.GetTopology(nodes_pb2.GetTopologyRequest(), timeout=min(self.timeout_s, 1.0))
            return True
        except grpc.RpcError:
            return False

    def register(self, request: nodes_pb2.RegisterRequest) -> nodes_pb2.RegisterResponse:
        return self.nodes.Register(request, timeout=self.timeout_s)

    def get_node(self, node_id: str) -> nodes_pb2.Node:
        return self.nodes.GetNode(nodes_pb2.GetNodeRequest(node_id=node_id), timeout=self.timeout_s).node

    def list_nodes(self, site: str = "", compute_class: int = 0, state: int = 0, page_size: int = 1000) -> Iterator[nodes_pb2.Node]:
        """Every matching node, following pages."""
        token = ""
        while True:
            page = self.nodes.ListNodes(
                nodes_pb2.ListNodesRequest(site=site, compute_class=compute_class, state=state,
                                           page_size=page_size, page_token=token),
                timeout=self.timeout_s,
            )
            yield from page.nodes
            token = page.next_page_token
            if not token:
                return

    def drain(self, node_id: str, reason: str = "", request_id: str | None = None) -> nodes_pb2.Node:
        req = nodes_pb2.DrainRequest(request_id=request_id or new_request_id("drain"), node_id=node_id, reason=reason)
        return self.nodes.Drain(req, timeout=self.timeout_s).node

    def undrain(self, node_id: str, request_id: str | None = None) -> nodes_pb2.Node:
        req = nodes_pb2.UndrainRequest(request_id=request_id or new_request_id("undrain"), node_id=node_id)
        return self.nodes.Undrain(req, timeout=self.timeout_s).node

    def deregister(self, node_id: str, request_id: str | None = None) -> nodes_pb2.Node:
        req = nodes_pb2.DeregisterRequest(request_id=request_id or new_request_id("deregister"), node_id=node_id)
        return self.nodes.Deregister(req, timeout=self.timeout_s).node

    def pools(self, anchor_site: str, tiers: list[int] | None = None) -> list[nodes_pb2.Pool]:
        req = nodes_pb2.GetPoolsRequest(anchor_site=anchor_site, tiers=tiers or [])
        return list(self.nodes.GetPools(req, timeout=self.timeout_s).pools)

    def topology(self) -> nodes_pb2.GetTopologyResponse:
        return self.nodes.GetTopology(nodes_pb2.GetTopologyRequest(), timeout=self.timeout_s)
