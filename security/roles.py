"""Who may call which RPC, and what each role may touch: one table, pure checks.

Every method of every service in protos/shuniu/v1 has a `Rule`: the roles that may call it and,
per role, the ownership checks that bind the call to the caller. A role with no checks acts on
anything (the operator, 交易所; the regulator, 监管, reads). The interceptor
(scheduler/control_plane/auth_interceptor.py) applies the table; the checks here are pure and
name the rule they refuse by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shuniu.protos.v1 import ledger_pb2
from shuniu.security.pki import NODE_ROLE, Identity

CENTER, HOLDER, BUYER, OPERATOR, REGULATOR, NODE = "compute_center", "data_holder", "buyer", "operator", "regulator", NODE_ROLE
# The one ledger account kind each party role holds: the prefix of "<kind>:<owner>" and its AccountKind.
# The other kinds (exchange, feedback_fund, subsidy, external) are the exchange's: only the operator and
# the regulator read them, whatever a party's certificate is named.
PARTY_ACCOUNTS = {
    BUYER: ("buyer", ledger_pb2.ACCOUNT_KIND_BUYER),
    HOLDER: ("holder", ledger_pb2.ACCOUNT_KIND_HOLDER),
    CENTER: ("compute_center", ledger_pb2.ACCOUNT_KIND_COMPUTE_CENTER),
}
# Services anyone may reach, with or without a certificate's role: health checks and reflection.
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")
# A client may state the role it means to act in; it must be the role its certificate binds.
ROLE_CLAIM_HEADER = "x-shuniu-role"


@dataclass(frozen=True)
class Named:
    """Request field `path` names the caller; an empty field is filled with the caller's name (forced)."""

    path: str


@dataclass(frozen=True)
class OwnNode:
    """Request field `path` (on every streamed message) is a node id the caller's node certificate binds."""

    path: str


@dataclass(frozen=True)
class OwnAccount:
    """The ledger account the request names is the caller's own: its role's kind and its name; required.

    `path` holds "<kind>:<owner>". Where a request may name the account another way, `kind_path` and
    `owner_path` hold its AccountKind and owner, and `statement_path` a statement id "<period>/<kind>:<owner>".
    Every form the request fills must name the caller's account, so which one the handler prefers does not matter.
    """

    path: str
    kind_path: str = ""
    owner_path: str = ""
    statement_path: str = ""


@dataclass(frozen=True)
class OwnOrg:
    """Request field `path` names the caller's own credit record (信用): "<its role's account kind>:<its name>", or
    for a buyer its bare name (market/credit/party.py); an empty field is filled with the first form."""

    path: str


@dataclass(frozen=True)
class OwnKind:
    """Request field `path` (an AccountKind) is the kind of the caller's role; an unset field is filled with it."""

    path: str


@dataclass(frozen=True)
class Owns:
    """The stored `resource` (job, grant, product, node, product_domain, analysis) whose id is at `path` belongs to the caller."""

    resource: str
    path: str


@dataclass(frozen=True)
class ResponseOwner:
    """Field `path` of the response (of every streamed response) names the caller."""

    path: str


Check = Named | OwnNode | OwnAccount | OwnOrg | OwnKind | Owns | ResponseOwner
RESOURCES = ("job", "grant", "product", "node", "product_domain", "analysis")


@dataclass(frozen=True)
class Rule:
    """The roles that may call one method, each with the checks that bind it to what it owns."""

    roles: Mapping[str, tuple[Check, ...]] = field(default_factory=dict)


def _rule(*free: str, **bound: tuple[Check, ...] | Check) -> Rule:
    roles: dict[str, tuple[Check, ...]] = {role: () for role in free}
    for role, checks in bound.items():
        roles[role] = checks if isinstance(checks, tuple) else (checks,)
    return Rule(roles)


USERS = (CENTER, HOLDER, BUYER, OPERATOR, REGULATOR)
EVERYONE = (*USERS, NODE)
_READ = (OPERATOR, REGULATOR)
_job = Owns("job", "job_id")
_balance = OwnAccount("account_id", kind_path="kind", owner_path="owner_id")
_statement = OwnAccount("account_id", statement_path="statement_id")


def _parties(checks: tuple[Check, ...] | Check) -> dict[str, tuple[Check, ...] | Check]:
    """The same checks for every role that holds a ledger account of its own."""
    return {role: checks for role in PARTY_ACCOUNTS}


RULES: dict[str, Rule] = {
    # NodeService: nodes speak only for themselves; a compute center drains only its own nodes.
    "/shuniu.v1.NodeService/Register": _rule(node=OwnNode("node_id")),
    "/shuniu.v1.NodeService/Heartbeat": _rule(node=OwnNode("node_id")),
    "/shuniu.v1.NodeService/HeartbeatOnce": _rule(node=OwnNode("heartbeat.node_id")),
    "/shuniu.v1.NodeService/Drain": _rule(OPERATOR, compute_center=Owns("node", "node_id")),
    "/shuniu.v1.NodeService/Undrain": _rule(OPERATOR, compute_center=Owns("node", "node_id")),
    "/shuniu.v1.NodeService/Deregister": _rule(OPERATOR, compute_center=Owns("node", "node_id")),
    "/shuniu.v1.NodeService/GetNode": _rule(*EVERYONE),
    "/shuniu.v1.NodeService/ListNodes": _rule(*EVERYONE),
    "/shuniu.v1.NodeService/GetPools": _rule(*EVERYONE),
    "/shuniu.v1.NodeService/GetTopology": _rule(*EVERYONE),
    # CatalogService: the catalog is public to members; a holder edits only its own products.
    "/shuniu.v1.CatalogService/RegisterProduct": _rule(OPERATOR, data_holder=Named("spec.holder_id")),
    "/shuniu.v1.CatalogService/GetProduct": _rule(*EVERYONE),
    "/shuniu.v1.CatalogService/ListProducts": _rule(*EVERYONE),
    "/shuniu.v1.CatalogService/ReportVerification": _rule(OPERATOR, node=Owns("product_domain", "product_id")),
    "/shuniu.v1.CatalogService/ReviewProduct": _rule(OPERATOR),
    "/shuniu.v1.CatalogService/DelistProduct": _rule(OPERATOR, data_holder=Owns("product", "product_id")),
    "/shuniu.v1.CatalogService/UpdateProductPrice": _rule(OPERATOR, data_holder=Owns("product", "product_id")),
    "/shuniu.v1.CatalogService/UpdateProductRights": _rule(OPERATOR, data_holder=Owns("product", "product_id")),
    "/shuniu.v1.CatalogService/GetCertificate": _rule(*EVERYONE),
    "/shuniu.v1.CatalogService/ListCertificateVersions": _rule(*EVERYONE),
    "/shuniu.v1.CatalogService/VerifyCertificate": _rule(*EVERYONE),
    "/shuniu.v1.CatalogService/ExportCatalog": _rule(*EVERYONE),
    # AnalysisService: members propose code for a product; its holder decides (the operator where the product's
    # policy says so: the service checks the policy, the table binds a holder to its own products' analyses).
    "/shuniu.v1.AnalysisService/ProposeAnalysis": _rule(OPERATOR, BUYER, HOLDER, CENTER),
    "/shuniu.v1.AnalysisService/ApproveAnalysis": _rule(OPERATOR, data_holder=Owns("analysis", "analysis_id")),
    "/shuniu.v1.AnalysisService/RejectAnalysis": _rule(OPERATOR, data_holder=Owns("analysis", "analysis_id")),
    "/shuniu.v1.AnalysisService/GetAnalysis": _rule(*USERS),
    "/shuniu.v1.AnalysisService/ListAnalyses": _rule(*USERS),
    # NegativeListService (负面清单): only the operator edits it; every member may read it.
    "/shuniu.v1.NegativeListService/AddEntry": _rule(OPERATOR),
    "/shuniu.v1.NegativeListService/RemoveEntry": _rule(OPERATOR),
    "/shuniu.v1.NegativeListService/ListEntries": _rule(*USERS),
    # GrantService: a buyer applies for and sees its own grants; only the operator decides.
    "/shuniu.v1.GrantService/ApplyGrant": _rule(OPERATOR, buyer=Named("spec.buyer_id")),
    "/shuniu.v1.GrantService/ApproveGrant": _rule(OPERATOR),
    "/shuniu.v1.GrantService/RejectGrant": _rule(OPERATOR),
    "/shuniu.v1.GrantService/RevokeGrant": _rule(OPERATOR),
    "/shuniu.v1.GrantService/GetGrant": _rule(*_READ, buyer=ResponseOwner("grant.spec.buyer_id")),
    "/shuniu.v1.GrantService/ListGrants": _rule(*_READ, buyer=Named("buyer_id")),
    # JobService: a buyer submits under its own grants and sees only its own jobs.
    "/shuniu.v1.JobService/SubmitJob": _rule(OPERATOR, buyer=Owns("grant", "spec.grant_id")),
    "/shuniu.v1.JobService/PlanJob": _rule(OPERATOR, buyer=Owns("grant", "spec.grant_id")),
    "/shuniu.v1.JobService/GetJob": _rule(*_READ, buyer=ResponseOwner("job.buyer_id")),
    "/shuniu.v1.JobService/ListJobs": _rule(*_READ, buyer=Named("buyer_id")),
    "/shuniu.v1.JobService/CancelJob": _rule(OPERATOR, buyer=_job),
    "/shuniu.v1.JobService/WatchJob": _rule(*_READ, buyer=(_job, ResponseOwner("job.buyer_id"))),
    "/shuniu.v1.JobService/ExplainJob": _rule(*_READ, buyer=_job),
    "/shuniu.v1.JobService/GetJobResult": _rule(OPERATOR, buyer=_job),
    # LedgerService and VoucherService: each party reads only its own accounts, decided from the request alone
    # (before any lookup), so another party's account and an unknown one get the same refusal.
    "/shuniu.v1.LedgerService/GetBalance": _rule(*_READ, **_parties(_balance)),
    "/shuniu.v1.LedgerService/ListAccounts": _rule(*_READ, **_parties((Named("owner_id"), OwnKind("kind")))),
    "/shuniu.v1.LedgerService/ListPostings": _rule(*_READ, **_parties(OwnAccount("account_id"))),
    "/shuniu.v1.LedgerService/CheckLedger": _rule(*_READ),
    "/shuniu.v1.LedgerService/RecordPayment": _rule(OPERATOR),
    "/shuniu.v1.VoucherService/IssueVoucher": _rule(OPERATOR),
    "/shuniu.v1.VoucherService/ListVouchers": _rule(*_READ, buyer=Named("org_id")),
    "/shuniu.v1.VoucherService/SetVoucherCap": _rule(OPERATOR),
    # SettlementService and FeeScheduleService: statements are their party's; the price index is public.
    "/shuniu.v1.SettlementService/ClosePeriod": _rule(OPERATOR),
    "/shuniu.v1.SettlementService/GetStatement": _rule(*_READ, **_parties(_statement)),
    "/shuniu.v1.SettlementService/ListStatements": _rule(*_READ, **_parties(OwnAccount("account_id"))),
    "/shuniu.v1.SettlementService/GetPriceIndex": _rule(*USERS),
    "/shuniu.v1.FeeScheduleService/PublishFeeSchedule": _rule(OPERATOR),
    "/shuniu.v1.FeeScheduleService/ListFeeSchedules": _rule(*USERS),
    "/shuniu.v1.FeeScheduleService/GetOperatorReport": _rule(*_READ, data_holder=Named("operator_id")),
    # UsageService: nodes report only their own usage; a holder reads the use of its products.
    "/shuniu.v1.UsageService/ReportUsage": _rule(node=OwnNode("batch.node_id")),
    "/shuniu.v1.UsageService/ListHolderUsage": _rule(*_READ, data_holder=Named("holder_id")),
    # CreditService and QuotaService: the operator records and sets; each party reads its own record (its role's
    # and its name's, decided from the request alone, so another party's and an unknown one get the same refusal).
    "/shuniu.v1.CreditService/RecordCreditEvent": _rule(OPERATOR),
    "/shuniu.v1.CreditService/GetCreditRecord": _rule(*_READ, **_parties(OwnOrg("org_id"))),
    "/shuniu.v1.CreditService/ListCreditRecords": _rule(*_READ),
    "/shuniu.v1.CreditService/ListCreditEvents": _rule(*_READ, **_parties(OwnOrg("org_id"))),
    "/shuniu.v1.QuotaService/SetQuota": _rule(OPERATOR),
    "/shuniu.v1.QuotaService/GetQuota": _rule(*_READ, buyer=Named("buyer_id")),
    "/shuniu.v1.QuotaService/ListQuotas": _rule(*_READ),
    # OverviewService (`shuniu top`): the exchange's live figures, for the operator and the regulator.
    "/shuniu.v1.OverviewService/GetOverview": _rule(*_READ),
    # AuditService (全流程可追溯): the regulator reads and verifies the trail; so may the operator.
    "/shuniu.v1.AuditService/ListEntries": _rule(*_READ),
    "/shuniu.v1.AuditService/VerifyChain": _rule(*_READ),
    "/shuniu.v1.AuditService/TraceJob": _rule(*_READ),
}


class Denied(Exception):
    """A refusal: the message names the rule and what would be accepted."""


def is_open(method: str) -> bool:
    return method.lstrip("/").split("/", 1)[0] in OPEN_SERVICES


def checks_for(method: str, identity: Identity, role_claim: str | None = None) -> tuple[Check, ...]:
    """The checks that bind `identity` on `method`; Denied when its role may not call it at all."""
    if role_claim is not None and role_claim != identity.role:
        raise Denied(f"rule role-claim: {ROLE_CLAIM_HEADER} {role_claim!r} does not match the role "
                     f"{identity.role!r} bound in the certificate of {identity.name!r}")
    rule = RULES.get(method)
    if rule is None:
        raise Denied(f"rule unlisted-method: {method} has no access rule; nobody may call it")
    if identity.role not in rule.roles:
        raise Denied(f"rule {method.rsplit('/', 1)[-1]}: role {identity.role!r} may not call {method}; "
                     f"allowed roles: {', '.join(sorted(rule.roles))}")
    return rule.roles[identity.role]


def get_path(message, path: str):
    for part in path.split("."):
        message = getattr(message, part)
    return message


def _set_path(message, path: str, value: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, last, value)


def own_account(identity: Identity) -> str:
    """The ledger account id a party's certificate may read: "<kind of its role>:<its name>"."""
    return f"{PARTY_ACCOUNTS[identity.role][0]}:{identity.name}"


def check_own_account(check: OwnAccount, identity: Identity, request) -> None:
    """Denied unless every account form the request fills names the caller's own account (and one does).

    Decided from the request and the certificate only: the refusal reads nothing stored, so it is the same
    for an account that exists and one that does not."""
    own = own_account(identity)
    _, own_kind = PARTY_ACCOUNTS[identity.role]
    named: list[tuple[str, str, bool]] = []  # (field, value as given, whether it is the caller's)
    if check.statement_path and (statement := get_path(request, check.statement_path)):
        named.append((check.statement_path, statement, statement.partition("/")[2] == own))
    if account := get_path(request, check.path):
        named.append((check.path, account, account == own))
    if check.kind_path:
        kind, owner = get_path(request, check.kind_path), get_path(request, check.owner_path)
        if kind or owner:
            kind_name = ledger_pb2.AccountKind.Name(kind) if kind in ledger_pb2.AccountKind.values() else str(kind)
            named.append((f"{check.kind_path} and {check.owner_path}", f"{kind_name} {owner}",
                          kind == own_kind and owner == identity.name))
    refused = [(field, value) for field, value, ok in named if not ok]
    if refused or not named:
        field, value = refused[0] if refused else (check.path, "")
        raise Denied(f"rule own-account: {identity.role} {identity.name!r} reads only its own account {own!r}; "
                     f"{field} {value!r} is not it (give {check.path} {own!r})")


def check_own_org(check: OwnOrg, identity: Identity, request) -> None:
    """Denied unless the request names the caller's own credit record; an empty field is filled with it.

    Decided from the request and the certificate only, like check_own_account."""
    own = own_account(identity)
    org = get_path(request, check.path)
    if not org:
        _set_path(request, check.path, own)
    elif org != own and not (identity.role == BUYER and org == identity.name):
        raise Denied(f"rule own-org: {identity.role} {identity.name!r} reads only its own credit record {own!r}; "
                     f"{check.path} {org!r} is not it (leave it empty or give {own!r})")


def apply_request_checks(checks: tuple[Check, ...], identity: Identity, request) -> list[Owns]:
    """Checks and forces the request's own fields in place; returns the lookups left for the interceptor."""
    lookups = []
    for check in checks:
        if isinstance(check, Named):
            value = get_path(request, check.path)
            if not value:
                _set_path(request, check.path, identity.name)
            elif value != identity.name:
                raise Denied(f"rule own-{check.path}: {identity.role} {identity.name!r} may act only as itself; "
                             f"{check.path} {value!r} is another party's (leave it empty or give {identity.name!r})")
        elif isinstance(check, OwnNode):
            check_node(identity, get_path(request, check.path), check.path)
        elif isinstance(check, OwnAccount):
            check_own_account(check, identity, request)
        elif isinstance(check, OwnOrg):
            check_own_org(check, identity, request)
        elif isinstance(check, OwnKind):
            _, own_kind = PARTY_ACCOUNTS[identity.role]
            kind = get_path(request, check.path)
            if not kind:
                _set_path(request, check.path, own_kind)
            elif kind != own_kind:
                raise Denied(f"rule own-account: {identity.role} {identity.name!r} holds only "
                             f"{ledger_pb2.AccountKind.Name(own_kind)} accounts; {check.path} is another kind "
                             f"(leave it unset or give {ledger_pb2.AccountKind.Name(own_kind)})")
        elif isinstance(check, Owns):
            lookups.append(check)
    return lookups


def check_node(identity: Identity, node_id: str, path: str = "node_id") -> None:
    if not identity.speaks_for_node(node_id):
        raise Denied(f"rule own-node: a node certificate acts only for its own node; {path} {node_id!r} is not "
                     f"bound by the certificate of {identity.name!r}")


def check_owner(check: Owns, identity: Identity, resource_id: str, owners: tuple[str, ...] | None) -> None:
    """`owners`: who owns the stored resource (for product_domain, its domain's node ids); None when not found."""
    if owners is None:
        # Not found: the handler answers NOT_FOUND itself; nothing of another party is disclosed.
        return
    allowed = (any(identity.speaks_for_node(n) for n in owners) if check.resource == "product_domain"
               else identity.name in owners)
    if not allowed:
        what = "a node of its domain" if check.resource == "product_domain" else "its owner"
        raise Denied(f"rule own-{check.resource}: {check.resource.removeprefix('product_')} {resource_id!r} "
                     f"belongs to another party; only {what} or the operator may do this")


def response_checks(checks: tuple[Check, ...]) -> tuple[ResponseOwner, ...]:
    return tuple(c for c in checks if isinstance(c, ResponseOwner))


def check_response(checks: tuple[ResponseOwner, ...], identity: Identity, response) -> None:
    for check in checks:
        owner = get_path(response, check.path)
        if owner != identity.name:
            raise Denied(f"rule own-{check.path.split('.', 1)[0]}: {identity.role} {identity.name!r} sees only "
                         f"its own; this {check.path.split('.', 1)[0]} belongs to another party")


def unlisted_methods(full_method_names: list[str]) -> list[str]:
    """Methods of the contract the table does not cover (the completeness test lists them)."""
    return sorted(m for m in full_method_names if m not in RULES)
