"""What a placed job becomes on its node: the NodeRunRequest, built from the job, its grant and products. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from shuniu.protos.v1 import catalog_pb2, grants_pb2, jobs_pb2, nodes_pb2, runs_pb2


def replica_paths(spec: catalog_pb2.ProductSpec) -> list[str]:
    """Each of the product's files once, as the node that runs the job reaches it, in path order.

    A file replicated on several domain nodes is listed once per node that holds it; reading
    every listing read each row once per replica (counts doubled, the buyer billed twice the
    rows, a k of 5 acting as 3). Replicas of a file share its path (verification hashes the
    distinct paths, nodes/product_verify.py), and a data domain shares its storage, so the
    node's own replica and the path every replica has are the same file: one read of each.
    """
    return sorted({f.path for f in spec.files})


def node_run_request(
    job: jobs_pb2.Job,
    grant: grants_pb2.Grant,
    products: Mapping[str, catalog_pb2.Product],
    product_columns: Mapping[str, list[str]],
    node: nodes_pb2.Node,
    tier: int,
    dp_epsilon_milli: int,
) -> runs_pb2.NodeRunRequest:
    # The quote locked at admission prices the run, whatever the catalog holds by the time it is placed.
    locked = {p.product_id: p.price_version for p in job.quote.product_prices}
    inputs = []
    for product_id, columns in product_columns.items():
        spec = products[product_id].spec
        inputs.append(runs_pb2.RunInput(
            product_id=product_id,
            paths=replica_paths(spec),
            columns=columns,
            sensitive_columns=spec.sensitive_columns,
            identifier_columns=spec.identifier_columns,
            price_version=locked.get(product_id, spec.pricing.price_version),
            bounds=spec.privacy.bounds,  # values are clamped to them before a noisy aggregate
        ))
    return runs_pb2.NodeRunRequest(
        job_id=job.job_id, attempt=job.attempt, node_id=node.node_id, buyer_id=job.buyer_id, spec=job.spec,
        inputs=inputs, egress=grant.spec.egress, purpose=grant.spec.purpose,
        purpose_category=grant.spec.purpose_category, tier=tier, site=node.site,
        # A node registered without a compute center is billed as its own center.
        compute_center=node.compute_center or node.node_id, compute_class=node.compute_class, dp_epsilon_milli=dp_epsilon_milli,
    )

