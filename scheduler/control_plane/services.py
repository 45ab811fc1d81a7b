"""Every gRPC service the control plane serves besides NodeService, wired in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shuniu.scheduler.control_plane.server import ControlPlane


@dataclasses.dataclass(frozen=True)
class Binding:
    """A servicer, the generated `add_…Servicer_to_server` function and the service's full name."""

    servicer: Any
    add: Callable[[Any, Any], None]
    full_name: str


def bindings(plane: ControlPlane) -> list[Binding]:
    """The services to register on `plane`'s server; each line adds one service."""
    found: list[Binding] = []
    from shuniu.protos.v1 import jobs_pb2, jobs_pb2_grpc
    from shuniu.scheduler.jobs.job_service import JobService
    found.append(Binding(JobService(plane.redis, plane.jobs.scheduler, plane.config.request_id_ttl_s),
                         jobs_pb2_grpc.add_JobServiceServicer_to_server,
                         jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name))
    from shuniu.protos.v1 import catalog_pb2, catalog_pb2_grpc, negative_list_pb2, negative_list_pb2_grpc
    from shuniu.scheduler.control_plane.catalog_service import CatalogService
    from shuniu.scheduler.control_plane.negative_list_service import NegativeListService
    found.append(Binding(CatalogService(plane.redis, plane.config.request_id_ttl_s),
                         catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
                         catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name))
    found.append(Binding(NegativeListService(plane.redis, plane.config.request_id_ttl_s),
                         negative_list_pb2_grpc.add_NegativeListServiceServicer_to_server,
                         negative_list_pb2.DESCRIPTOR.services_by_name["NegativeListService"].full_name))
    from shuniu.protos.v1 import grants_pb2, grants_pb2_grpc
    from shuniu.scheduler.control_plane.grant_service import GrantService
    found.append(Binding(GrantService(plane.redis, plane.config.request_id_ttl_s),
                         grants_pb2_grpc.add_GrantServiceServicer_to_server,
                         grants_pb2.DESCRIPTOR.services_by_name["GrantService"].full_name))
    from shuniu.protos.v1 import ledger_pb2, ledger_pb2_grpc, settlement_pb2, settlement_pb2_grpc
    from shuniu.scheduler.control_plane.ledger_service import LedgerService
    from shuniu.scheduler.control_plane.settlement_service import SettlementService
    found.append(Binding(LedgerService(plane.config.redis_url), ledger_pb2_grpc.add_LedgerServiceServicer_to_server,
                         ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name))
    found.append(Binding(SettlementService(plane.config.redis_url), settlement_pb2_grpc.add_SettlementServiceServicer_to_server,
                         settlement_pb2.DESCRIPTOR.services_by_name["SettlementService"].full_name))
    return found
