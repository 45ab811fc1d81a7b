"""Every gRPC service the control plane serves besides NodeService, wired in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shuniu.protos.v1 import (
    audit_pb2, audit_pb2_grpc, catalog_pb2, catalog_pb2_grpc, grants_pb2, grants_pb2_grpc, jobs_pb2, jobs_pb2_grpc,
    ledger_pb2, ledger_pb2_grpc,
    negative_list_pb2, negative_list_pb2_grpc, settlement_pb2, settlement_pb2_grpc,
)
from shuniu.protos.v1 import analyses_pb2, analyses_pb2_grpc, overview_pb2, overview_pb2_grpc
from shuniu.scheduler.control_plane.analysis_service import AnalysisService
from shuniu.scheduler.control_plane.audit_service import AuditService
from shuniu.scheduler.control_plane.catalog_service import CatalogService
from shuniu.scheduler.control_plane.fee_schedule_service import FeeScheduleService
from shuniu.scheduler.control_plane.credit_service import CreditService
from shuniu.scheduler.control_plane.holder_usage_service import HolderUsageService
from shuniu.protos.v1 import credit_pb2, credit_pb2_grpc, usage_pb2, usage_pb2_grpc
from shuniu.scheduler.control_plane.grant_service import GrantService
from shuniu.scheduler.control_plane.ledger_service import LedgerService
from shuniu.scheduler.control_plane.negative_list_service import NegativeListService
from shuniu.scheduler.control_plane.overview_service import OverviewService
from shuniu.scheduler.control_plane.settlement_service import SettlementService
from shuniu.scheduler.control_plane.voucher_service import VoucherService
from shuniu.scheduler.jobs.job_service import JobService

if TYPE_CHECKING:
    from shuniu.scheduler.control_plane.server import ControlPlane


@dataclasses.dataclass(frozen=True)
class Binding:
    """A servicer, the generated `add_…Servicer_to_server` function and the service's full name."""

    servicer: Any
    add: Callable[[Any, Any], None]
    full_name: str


def _binding(servicer: Any, module: Any, grpc_module: Any, service: str) -> Binding:
    return Binding(servicer, getattr(grpc_module, f"add_{service}Servicer_to_server"),
                   module.DESCRIPTOR.services_by_name[service].full_name)


def bindings(plane: ControlPlane) -> list[Binding]:
    """The services to register on `plane`'s server; each line adds one service."""
    ttl_s = plane.config.request_id_ttl_s
    return [
        _binding(JobService(plane.redis, plane.jobs.scheduler, ttl_s), jobs_pb2, jobs_pb2_grpc, "JobService"),
        _binding(CatalogService(plane.redis, ttl_s), catalog_pb2, catalog_pb2_grpc, "CatalogService"),
        _binding(NegativeListService(plane.redis, ttl_s), negative_list_pb2, negative_list_pb2_grpc,
                 "NegativeListService"),
        _binding(GrantService(plane.redis, ttl_s), grants_pb2, grants_pb2_grpc, "GrantService"),
        _binding(AnalysisService(plane.redis, ttl_s), analyses_pb2, analyses_pb2_grpc, "AnalysisService"),
        _binding(LedgerService(plane.config.redis_url, plane.jobs.store), ledger_pb2, ledger_pb2_grpc, "LedgerService"),
        _binding(SettlementService(plane.config.redis_url), settlement_pb2, settlement_pb2_grpc, "SettlementService"),
        _binding(FeeScheduleService(plane.redis, ttl_s), settlement_pb2, settlement_pb2_grpc, "FeeScheduleService"),
        _binding(VoucherService(plane.redis, ttl_s), ledger_pb2, ledger_pb2_grpc, "VoucherService"),
        _binding(AuditService.with_chainer(plane.redis, plane.config.retention_s, plane.cold), audit_pb2, audit_pb2_grpc, "AuditService"),
        _binding(OverviewService(plane), overview_pb2, overview_pb2_grpc, "OverviewService"),
        _binding(CreditService.with_sweeper(plane.redis, ttl_s), credit_pb2, credit_pb2_grpc, "CreditService"),
        _binding(HolderUsageService(plane.redis, plane.cold), usage_pb2, usage_pb2_grpc, "UsageService"),
    ]
