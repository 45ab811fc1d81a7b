"""Accounts bound to parties (kind and owner), and names the exchange reserves at its CA. Pure checks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shuniu.market.billing.book import BillingPolicy
from shuniu.market.ledger import ACCOUNT_KINDS, split_account_id
from shuniu.market.ledger.payments import BANK_ACCOUNT
from shuniu.market.vouchers.model import subsidy_account
from shuniu.protos.v1 import ledger_pb2, settlement_pb2
from shuniu.security import pki, roles
from shuniu.security.caller import SYSTEM

from shuniu.cli import app

GET_BALANCE, LIST_POSTINGS = "/shuniu.v1.LedgerService/GetBalance", "/shuniu.v1.LedgerService/ListPostings"
GET_STATEMENT, LIST_STATEMENTS = "/shuniu.v1.SettlementService/GetStatement", "/shuniu.v1.SettlementService/ListStatements"


def _balance(account: str = "", kind: int = 0, owner: str = ""):
    return GET_BALANCE, ledger_pb2.GetBalanceRequest(account_id=account, kind=kind, owner_id=owner)


def _allowed(role: str, name: str, method: str, request) -> bool:
    identity = pki.Identity(role, (name,))
    try:
        roles.apply_request_checks(roles.checks_for(method, identity), identity, request)
    except roles.Denied as err:
        assert str(err).startswith("rule own-account:"), err
        return False
    return True


@pytest.mark.parametrize("role, name, call, allowed", [
    ("buyer", "exchange", _balance("exchange:exchange"), False),
    ("buyer", "exchange", _balance("subsidy:exchange"), False),
    ("buyer", "exchange", _balance(kind=ledger_pb2.ACCOUNT_KIND_EXCHANGE, owner="exchange"), False),
    ("buyer", "zhengzhou-dc", _balance("compute_center:zhengzhou-dc"), False),
    ("compute_center", "acme", _balance("buyer:acme"), False),
    ("data_holder", "henan-drc", _balance("feedback_fund:henan-drc"), False),
    ("buyer", "exchange", _balance("buyer:exchange"), True),
    ("buyer", "acme", _balance(kind=ledger_pb2.ACCOUNT_KIND_BUYER, owner="acme"), True),
    ("compute_center", "zhengzhou-dc", _balance("compute_center:zhengzhou-dc"), True),
    ("data_holder", "grid", _balance("holder:grid"), True),
    ("buyer", "acme", _balance("buyer:acme", ledger_pb2.ACCOUNT_KIND_BUYER, "bank-b"), False),
    ("buyer", "acme", _balance(), False),
    ("buyer", "exchange", (LIST_POSTINGS, ledger_pb2.ListPostingsRequest(account_id="exchange:exchange")), False),
    ("buyer", "acme", (LIST_POSTINGS, ledger_pb2.ListPostingsRequest(account_id="buyer:acme")), True),
    ("buyer", "acme", (LIST_POSTINGS, ledger_pb2.ListPostingsRequest(account_id="acme")), False),
    ("buyer", "exchange", (LIST_STATEMENTS, settlement_pb2.ListStatementsRequest(account_id="exchange:exchange")), False),
    ("buyer", "exchange", (GET_STATEMENT, settlement_pb2.GetStatementRequest(statement_id="2026-11/exchange:exchange")), False),
    ("buyer", "acme", (GET_STATEMENT, settlement_pb2.GetStatementRequest(statement_id="2026-11/buyer:acme")), True),
    ("buyer", "acme", (GET_STATEMENT, settlement_pb2.GetStatementRequest(
        statement_id="2026-11/buyer:bank-b", account_id="buyer:acme")), False),
    ("buyer", "acme", (GET_STATEMENT, settlement_pb2.GetStatementRequest(period="2026-11", account_id="buyer:acme")), True),
], ids=["buyer-named-exchange", "buyer-named-subsidy", "buyer-named-exchange-by-kind", "buyer-named-center",
        "center-named-buyer", "holder-named-fund", "buyer-own-named-exchange", "buyer-own-by-kind", "center-own",
        "holder-own", "own-id-other-kind-and-owner", "nothing-named", "postings-exchange", "postings-own",
        "postings-no-kind", "statements-exchange", "statement-exchange", "statement-own",
        "statement-other-id-own-account", "statement-own-by-period"])
def test_only_the_matching_role_and_name_read_an_account(role, name, call, allowed):
    assert _allowed(role, name, *call) is allowed


@pytest.mark.parametrize("method, request_", [
    _balance("buyer:bank-b"), _balance(kind=ledger_pb2.ACCOUNT_KIND_BUYER, owner="bank-b"),
    (LIST_POSTINGS, ledger_pb2.ListPostingsRequest(account_id="buyer:bank-b")),
    (GET_STATEMENT, settlement_pb2.GetStatementRequest(statement_id="2026-11/buyer:bank-b")),
    (LIST_STATEMENTS, settlement_pb2.ListStatementsRequest(account_id="buyer:bank-b")),
], ids=["balance", "balance-by-kind", "postings", "statement", "statements"])
def test_the_refusal_reads_nothing_stored_and_names_only_what_was_asked(method, request_):
    """The check runs on the request alone: it cannot answer differently for an account that exists."""
    buyer = pki.Identity("buyer", ("acme",))
    with pytest.raises(roles.Denied) as err:
        roles.apply_request_checks(roles.checks_for(method, buyer), buyer, request_)
    assert "reads only its own account 'buyer:acme'" in str(err.value)


@pytest.mark.parametrize("kind, forced_or_refused", [
    (0, ledger_pb2.ACCOUNT_KIND_BUYER), (ledger_pb2.ACCOUNT_KIND_BUYER, ledger_pb2.ACCOUNT_KIND_BUYER),
    (ledger_pb2.ACCOUNT_KIND_EXCHANGE, None), (ledger_pb2.ACCOUNT_KIND_SUBSIDY, None),
], ids=["unset-is-forced", "own-kind-kept", "exchange-kind-refused", "subsidy-kind-refused"])
def test_listing_accounts_is_bound_to_the_callers_kind_and_name(kind, forced_or_refused):
    buyer = pki.Identity("buyer", ("exchange",))
    request = ledger_pb2.ListAccountsRequest(kind=kind)
    checks = roles.checks_for("/shuniu.v1.LedgerService/ListAccounts", buyer)
    if forced_or_refused is None:
        with pytest.raises(roles.Denied, match="rule own-account"):
            roles.apply_request_checks(checks, buyer, request)
    else:
        roles.apply_request_checks(checks, buyer, request)
        assert (request.kind, request.owner_id) == (forced_or_refused, "exchange")


def test_every_party_role_holds_a_ledger_kind_the_ledger_knows():
    for role, (prefix, kind) in roles.PARTY_ACCOUNTS.items():
        assert role in pki.USER_ROLES
        assert ACCOUNT_KINDS[prefix] == kind
    assert pki.EXCHANGE_ROLE == roles.OPERATOR


def test_the_reserved_names_cover_every_account_and_actor_the_exchange_goes_by():
    exchange_owned = {split_account_id(a)[1] for a in (f"exchange:{BillingPolicy().exchange_id}", subsidy_account(""),
                                                       BANK_ACCOUNT)}
    assert exchange_owned | {SYSTEM} <= set(pki.RESERVED_NAMES)


# -- the CA --------------------------------------------------------------------------------------

def _ca(*args: str):
    return CliRunner().invoke(app, ["ca", *args])


@pytest.mark.parametrize("name, role, ok", [
    ("exchange", "buyer", False), ("exchange", "compute_center", False), ("exchange", "data_holder", False),
    ("exchange", "regulator", False), ("bank", "data_holder", False), ("system", "buyer", False),
    ("exchange", "operator", True), ("bank-a", "buyer", True),
], ids=["exchange-buyer", "exchange-center", "exchange-holder", "exchange-regulator", "bank-holder",
        "system-buyer", "exchange-operator", "ordinary-buyer"])
def test_the_ca_refuses_names_the_exchange_reserves_to_other_roles(tmp_path, name, role, ok):
    directory = str(tmp_path / "ca")
    assert _ca("init", "--dir", directory).exit_code == 0
    result = _ca("issue", "--dir", directory, "--user", name, "--role", role)
    assert (result.exit_code == 0) is ok, result.output
    assert (tmp_path / "ca" / f"user-{name}.pem").exists() is ok
    if not ok:
        assert "is reserved by the exchange" in " ".join(result.output.split())
