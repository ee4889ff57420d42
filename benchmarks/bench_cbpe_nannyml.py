"""Estimated performance (CBPE-style, `otelml.stats.performance`) against NannyML's CBPE, the independent
reference, on data with covariate shift; both against the realized values (`sklearn.metrics`).

    python3 -m venv .venv-nannyml && .venv-nannyml/bin/pip install nannyml statsmodels
    .venv/bin/python benchmarks/bench_cbpe_nannyml.py [--nannyml-python .venv-nannyml/bin/python]

A logistic model is trained on x ~ N(0, I) with P(y=1 | x) = sigmoid(1.5 x0 - x1 + 0.5 x0 x1) (so the
model is slightly misspecified and its scores need calibrating); the reference is a held-out set of
5,000; the analysis is `--chunks` chunks of 2,000 whose x0 mean shifts from 0 to `--max-shift` (P(y | x)
unchanged: covariate shift only). For each chunk: realized roc_auc/f1/accuracy (sklearn), our
estimate (calibration fitted on the reference, the sidecar's code), NannyML 0.13's CBPE estimate
(same reference, same chunks; run in its own virtualenv because of its pinned dependencies).
Prints a Markdown table and the mean absolute differences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otelml.stats.performance import Calibration, estimated_binary  # noqa: E402

METRICS = ("roc_auc", "f1", "accuracy")
NANNYML_SCRIPT = """
import json, sys
import nannyml as nml
import pandas as pd
reference = pd.read_csv(sys.argv[1]); analysis = pd.read_csv(sys.argv[2]); size = int(sys.argv[3])
cbpe = nml.CBPE(y_pred_proba="score", y_pred="pred", y_true="y", metrics=["roc_auc", "f1", "accuracy"],
                chunk_size=size, problem_type="classification_binary")
cbpe.fit(reference)
result = cbpe.estimate(analysis.drop(columns=["y"])).filter(period="analysis").to_df()
out = {m: result[(m, "value")].tolist() for m in ["roc_auc", "f1", "accuracy"]}
print(json.dumps(out))
"""


def make(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    x = rng.normal(size=(n, 2)) + np.array([shift, 0.0])
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 0] * x[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": y})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nannyml-python", default=str(ROOT / ".venv-nannyml" / "bin" / "python"))
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--max-shift", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    train = make(rng, 10_000, 0.0)
    model = LogisticRegression().fit(train[["x0", "x1"]], train["y"])

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["score"] = model.predict_proba(frame[["x0", "x1"]])[:, 1]
        frame["pred"] = (frame["score"] >= 0.5).astype(int)
        return frame

    reference = scored(make(rng, 5000, 0.0))
    shifts = np.linspace(0.0, args.max_shift, args.chunks)
    chunks = [scored(make(rng, args.chunk_size, float(s))) for s in shifts]
    calibration = Calibration.fit_if_needed(reference["score"].to_numpy(), reference["y"].to_numpy())
    ours = []
    realized = []
    for chunk in chunks:
        s, p, y = chunk["score"].to_numpy(), chunk["pred"].to_numpy(), chunk["y"].to_numpy()
        ours.append(estimated_binary(p, s, calibration(s)))
        realized.append(
            {
                "roc_auc": skm.roc_auc_score(y, s),
                "f1": skm.f1_score(y, p),
                "accuracy": skm.accuracy_score(y, p),
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        ref_csv, ana_csv = Path(tmp) / "reference.csv", Path(tmp) / "analysis.csv"
        reference.to_csv(ref_csv, index=False)
        pd.concat(chunks).to_csv(ana_csv, index=False)
        run = subprocess.run(
            [args.nannyml_python, "-c", NANNYML_SCRIPT, str(ref_csv), str(ana_csv), str(args.chunk_size)],
            capture_output=True,
            text=True,
            check=False,
        )
    if run.returncode != 0:
        print(f"NannyML failed ({args.nannyml_python}):\n{run.stderr[-2000:]}", file=sys.stderr)
        return 2
    nannyml = json.loads(run.stdout.strip().splitlines()[-1])
    identity = bool(np.array_equal(calibration.x, [0.0, 1.0]) and np.array_equal(calibration.y, [0.0, 1.0]))
    print(
        f"reference 5,000 rows; {args.chunks} chunks of {args.chunk_size}; calibration: "
        f"{'none (scores calibrated)' if identity else 'isotonic'}\n"
    )
    header = "| shift | " + " | ".join(f"{m} realized | otelml | NannyML" for m in METRICS) + " |"
    print(header)
    print("|---:|" + "---:|---:|---:|" * len(METRICS))
    diffs = {m: [] for m in METRICS}
    errs = {m: [] for m in METRICS}
    for i, shift in enumerate(shifts):
        cells = []
        for m in METRICS:
            r, o, n = realized[i][m], ours[i][m], nannyml[m][i]
            diffs[m].append(abs(o - n))
            errs[m].append((abs(o - r), abs(n - r)))
            cells.append(f"{r:.4f} | {o:.4f} | {n:.4f}")
        print(f"| {shift:.2f} | " + " | ".join(cells) + " |")
    print()
    for m in METRICS:
        o_err = np.mean([e[0] for e in errs[m]])
        n_err = np.mean([e[1] for e in errs[m]])
        print(
            f"{m}: mean |otelml - NannyML| {np.mean(diffs[m]):.4f} (max {np.max(diffs[m]):.4f}); "
            f"mean |estimate - realized|: otelml {o_err:.4f}, NannyML {n_err:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
