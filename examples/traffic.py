"""Load generator for the example: applications to the gateway from the customers of its feature store.

The gateway's Feast repository serves `customer_profiles(3000)` (examples/feature_store.py) unless it was
given other profiles. The first `--shift-after` applications come from the training population; the rest
from customers whose income fell and card utilization rose — the drift the sidecar should flag on `income`
and `utilization` and nowhere else. With `--labels`, outcomes are recorded as labels
through `examples.feedback` (this process then needs OTEL_EXPORTER_OTLP_ENDPOINT and `import otelml.auto`).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import requests

from examples.credit_data import default_labels
from examples.feature_store import DEFAULT_CUSTOMERS, customer_profiles

__all__ = ["Sent", "send"]


class Sent(dict):
    """One application sent: the gateway's answer plus the applicant's features."""


def send(url: str, frame: pd.DataFrame, workers: int = 8) -> list[Sent]:
    """POST one application per row of `frame` (index = customer id) to the gateway."""
    session = requests.Session()

    def one(item: tuple[str, pd.Series]) -> Sent:
        customer_id, row = item
        body = {
            "customer_id": customer_id,
            "amount": float(row["amount"]),
            "term_months": float(row["term_months"]),
        }
        response = session.post(f"{url}/applications", json=body, timeout=30)
        response.raise_for_status()
        return Sent(response.json(), customer_id=customer_id, sent_at=time.time())

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, frame.iterrows()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS,
                        help="customers per population in the gateway's feature store")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--shift-after", type=int, default=3000)
    parser.add_argument("--labels", action="store_true", help="record outcomes as labels afterwards")
    args = parser.parse_args()
    if max(args.shift_after, args.requests - args.shift_after) > args.customers:
        parser.error(f"--shift-after and --requests minus it must be <= --customers ({args.customers})")
    normal, shifted = customer_profiles(args.customers)
    batch = pd.concat([normal.iloc[: args.shift_after], shifted.iloc[: args.requests - args.shift_after]])
    sent = send(args.url, batch)
    decisions = pd.Series([s["decision"] for s in sent]).value_counts().to_dict()
    print(f"sent {len(sent)} applications; decisions: {decisions}")
    if args.labels:
        import otelml.auto  # noqa: F401
        from examples.feedback import Outcome, record_outcomes

        outcomes = [
            *default_labels(normal.iloc[: args.shift_after]),
            *default_labels(shifted.iloc[: args.requests - args.shift_after], seed=2, shift=args.shift),
        ]
        recorded = record_outcomes(
            Outcome(s["prediction_id"], int(y), s["sent_at"], s["model_version"], s.get("traceparent"))
            for s, y in zip(sent, outcomes, strict=True)
        )
        print(f"recorded {recorded} labels")


if __name__ == "__main__":
    main()
