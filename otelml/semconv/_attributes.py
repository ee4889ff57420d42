"""otelml semantic conventions. GENERATED from registry.yaml by
``python -m otelml.semconv.generate``: do not edit by hand."""

from __future__ import annotations

SEMCONV_VERSION = '0.1.0'

#: ml.operation.name of: Features fetched for one prediction from a feature store or view.
OPERATION_FEATURE_LOOKUP = 'feature_lookup'

#: Span-name format (str.format).
SPAN_NAME_FEATURE_LOOKUP = 'feature_lookup {view}'

#: ml.operation.name of: One call of a model (single row or batch).
OPERATION_INFERENCE = 'inference'

#: Span-name format (str.format).
SPAN_NAME_INFERENCE = 'inference {model}'

#: ml.operation.name of: Business rules applied to a model output.
OPERATION_POSTPROCESS = 'postprocess'

#: Span-name format (str.format).
SPAN_NAME_POSTPROCESS = 'postprocess {step}'

#: ml.operation.name of: Ground truth recorded for an earlier prediction, by prediction id.
OPERATION_LABEL = 'label'

#: Span-name format (str.format).
SPAN_NAME_LABEL = 'label {model}'

#: The ML operation: feature_lookup | inference | postprocess | label.
ML_OPERATION_NAME = 'ml.operation.name'

#: Shared by all spans of one prediction in every service; carried across processes in W3C baggage.
ML_PREDICTION_ID = 'ml.prediction.id'

#: Model name (estimator class name unless registered with otelml.register_model).
ML_MODEL_NAME = 'ml.model.name'

#: Model version.
ML_MODEL_VERSION = 'ml.model.version'

#: The training run that produced the model (MLflow run id), from the model registry.
ML_MODEL_RUN_ID = 'ml.model.run_id'

#: Framework: sklearn, xgboost, lightgbm, or the MLflow flavour of a pyfunc model.
ML_MODEL_FRAMEWORK = 'ml.model.framework'

#: Role of the model version serving the call: primary | shadow | canary.
ML_DEPLOYMENT_ROLE = 'ml.deployment.role'

#: classification | regression.
ML_MODEL_TASK = 'ml.model.task'

#: ml.feature.<name>: one attribute per input feature, the name normalised (see below).
ML_FEATURE_PREFIX = 'ml.feature.'

#: Predicted value or class.
ML_PREDICTION_VALUE = 'ml.prediction.value'

#: Probability of the predicted class (binary - of the positive class).
ML_PREDICTION_SCORE = 'ml.prediction.score'

#: Rows in the call. When it exceeds the row limit, array attributes hold a uniform sample of rows.
ML_BATCH_SIZE = 'ml.batch.size'

#: Row indices captured when a batch was sampled.
ML_BATCH_SAMPLED_ROWS = 'ml.batch.sampled_rows'

#: Predicted class of a classifier, as a string (at most 100 distinct per model, then "other").
ML_PREDICTION_CLASS = 'ml.prediction.class'

#: Decade of a regression output: "0", "[1,10)", "[-100,-10)", "[0.01,0.1)", or "nan".
ML_PREDICTION_BUCKET = 'ml.prediction.bucket'

#: Exception class name when the inference call raised (OTel general convention).
ERROR_TYPE = 'error.type'

#: ml.segment.<key>: cohort keys (region, plan, ...).
ML_SEGMENT_PREFIX = 'ml.segment.'

#: Feature store serving the features.
ML_FEATURE_STORE_NAME = 'ml.feature_store.name'

#: Feature-store project (Feast project) the feature views belong to.
ML_FEATURE_STORE_PROJECT = 'ml.feature_store.project'

#: Feature service requested, when the lookup named one instead of a feature list.
ML_FEATURE_STORE_SERVICE = 'ml.feature_store.service'

#: Feature view (table, group) read.
ML_FEATURE_VIEW_NAME = 'ml.feature_view.name'

#: Version of the feature view.
ML_FEATURE_VIEW_VERSION = 'ml.feature_view.version'

#: Age in seconds of the oldest value served.
ML_FEATURE_VIEW_FRESHNESS = 'ml.feature_view.freshness'

#: Names of the features served.
ML_FEATURE_NAMES = 'ml.feature.names'

#: Business rule applied.
ML_POSTPROCESS_STEP = 'ml.postprocess.step'

#: Final decision.
ML_DECISION = 'ml.decision'

#: Ground truth.
ML_LABEL_VALUE = 'ml.label.value'

#: Seconds between the prediction and its label, when the prediction time is known.
ML_LABEL_DELAY = 'ml.label.delay'

#: Feature a drift or quality signal is about (normalised name).
ML_FEATURE_NAME = 'ml.feature.name'

#: psi | ks | js | wasserstein | chi2 | linf.
ML_DRIFT_METHOD = 'ml.drift.method'

#: The method's statistic (ks - the KS distance; chi2 - the p-value).
ML_DRIFT_SCORE = 'ml.drift.score'

#: Threshold the score crossed.
ML_DRIFT_THRESHOLD = 'ml.drift.threshold'

#: Added by the sidecar to forwarded inference spans - features whose values lie outside the baseline.
ML_DRIFT_FEATURES = 'ml.drift.features'

#: accuracy | precision | recall | f1 | roc_auc | log_loss | brier | f1_macro | mae | rmse | mape | r2.
ML_PERFORMANCE_METRIC = 'ml.performance.metric'

#: realized (from joined labels) | estimated (confidence-based, before labels).
ML_PERFORMANCE_KIND = 'ml.performance.kind'

#: The window's metric value that crossed.
ML_PERFORMANCE_VALUE = 'ml.performance.value'

#: The reference value of the metric (baseline file or warm-up).
ML_PERFORMANCE_REFERENCE = 'ml.performance.reference'

#: Allowed absolute drop below the reference.
ML_PERFORMANCE_THRESHOLD = 'ml.performance.threshold'

#: Name of a service-level objective of the sidecar's slo processor.
ML_SLO_NAME = 'ml.slo.name'

#: latency | errors | freshness | performance.
ML_SLO_INDICATOR = 'ml.slo.indicator'

#: Share of good events the objective promises (e.g. 0.99).
ML_SLO_TARGET = 'ml.slo.target'

#: What makes an event good - seconds (latency, freshness) or the metric's floor (performance).
ML_SLO_THRESHOLD = 'ml.slo.threshold'

#: Burn-rate window as a duration (1h, 5m, 30s); on an alert the long window of the firing pair.
ML_SLO_WINDOW = 'ml.slo.window'

#: The short window of the firing pair.
ML_SLO_WINDOW_SHORT = 'ml.slo.window.short'

#: Burn rate over the long window of the firing pair (1 = spends exactly the budget over the period).
ML_SLO_BURN_RATE = 'ml.slo.burn_rate'

#: Burn rate over the short window of the firing pair.
ML_SLO_BURN_RATE_SHORT = 'ml.slo.burn_rate.short'

#: Burn rate both windows of the pair exceeded.
ML_SLO_BURN_RATE_THRESHOLD = 'ml.slo.burn_rate.threshold'

#: Share of the period's error budget left when the alert fired.
ML_SLO_ERROR_BUDGET_REMAINING = 'ml.slo.error_budget.remaining'

#: The figure of the bad event the alert links to (seconds, or the metric value).
ML_SLO_VALUE = 'ml.slo.value'

#: Canary rollback alert (event ml.canary.rollback) - the baseline version the candidate
#: (ml.model.version) was compared with.
ML_CANARY_BASELINE = 'ml.canary.baseline'

#: promote | rollback | inconclusive.
ML_CANARY_VERDICT = 'ml.canary.verdict'

#: Checks that failed: prediction_shift, agreement, performance, latency, error_rate.
ML_CANARY_FAILED_CHECKS = 'ml.canary.failed_checks'

#: gauge (1): Drift statistic per model, version, feature and method, one point per window; exemplars
#: are trace ids of predictions in the bins that contribute most.
METRIC_ML_FEATURE_DRIFT = 'ml.feature.drift'

#: gauge (1): Same as ml.feature.drift, for the model output (ml.feature.name is prediction.value or
#: prediction.score).
METRIC_ML_PREDICTION_DRIFT = 'ml.prediction.drift'

#: histogram (s): Duration of inference calls, from the library.
METRIC_ML_INFERENCE_DURATION = 'ml.inference.duration'

#: counter ({prediction}): Predictions by model, version and predicted class or value bucket, from the
#: library.
METRIC_ML_PREDICTIONS = 'ml.predictions'

#: counter ({run}): Data-quality gate runs.
METRIC_ML_DATA_QUALITY_RUNS = 'ml.data_quality.runs'

#: counter ({violation}): Failed expectations (gate) or violating predictions (sidecar), by model,
#: feature and expectation type.
METRIC_ML_DATA_QUALITY_VIOLATIONS = 'ml.data_quality.violations'

#: gauge (1): Realized or estimated model performance per window, model, version, metric (and segment);
#: exemplars are trace ids of the window's wrongest predictions.
METRIC_ML_MODEL_PERFORMANCE = 'ml.model.performance'

#: gauge (1): Share of a performance window's predictions that have a label.
METRIC_ML_LABEL_COVERAGE = 'ml.label.coverage'

#: histogram (s): Delay from a prediction to its joined label, by model and version.
METRIC_ML_LABEL_DELAY = 'ml.label.delay'

#: gauge (1): Error-budget burn rate of an objective over each alert window (ml.slo.window), observed
#: at each collection.
METRIC_ML_SLO_BURN_RATE = 'ml.slo.burn_rate'

#: gauge (1): Share of an objective's error budget left over its period (1 = untouched, below 0 =
#: overspent).
METRIC_ML_SLO_ERROR_BUDGET_REMAINING = 'ml.slo.error_budget.remaining'

#: Event name of: A drift score crossed its threshold (processor drift).
EVENT_ML_DRIFT_ALERT = 'ml.drift.alert'

#: Event name of: Predictions violated a data-quality expectation (processor quality).
EVENT_ML_DATA_QUALITY_VIOLATION = 'ml.data_quality.violation'

#: Event name of: A window's realized or estimated performance dropped below its reference (processor
#: performance).
EVENT_ML_PERFORMANCE_ALERT = 'ml.performance.alert'

#: Event name of: An objective started burning its error budget faster than an alert window pair allows
#: (processor slo).
EVENT_ML_SLO_ALERT = 'ml.slo.alert'

FEATURE_NAME_NORMALISATION = (
    'A feature name becomes the suffix of ml.feature.<name> after: lower-casing; every run of '
    'characters outside [a-z0-9_] replaced by one underscore; leading/trailing underscores '
    'stripped; an empty result becomes "f<index>". Example: "Petal Length (cm)" -> '
    'ml.feature.petal_length_cm. Two names that normalise alike keep the first; later ones get '
    'a numeric suffix "_2", "_3" in column order. '
)

__all__ = [
    "ERROR_TYPE",
    "EVENT_ML_DATA_QUALITY_VIOLATION",
    "EVENT_ML_DRIFT_ALERT",
    "EVENT_ML_PERFORMANCE_ALERT",
    "EVENT_ML_SLO_ALERT",
    "FEATURE_NAME_NORMALISATION",
    "METRIC_ML_DATA_QUALITY_RUNS",
    "METRIC_ML_DATA_QUALITY_VIOLATIONS",
    "METRIC_ML_FEATURE_DRIFT",
    "METRIC_ML_INFERENCE_DURATION",
    "METRIC_ML_LABEL_COVERAGE",
    "METRIC_ML_LABEL_DELAY",
    "METRIC_ML_MODEL_PERFORMANCE",
    "METRIC_ML_PREDICTIONS",
    "METRIC_ML_PREDICTION_DRIFT",
    "METRIC_ML_SLO_BURN_RATE",
    "METRIC_ML_SLO_ERROR_BUDGET_REMAINING",
    "ML_BATCH_SAMPLED_ROWS",
    "ML_BATCH_SIZE",
    "ML_CANARY_BASELINE",
    "ML_CANARY_FAILED_CHECKS",
    "ML_CANARY_VERDICT",
    "ML_DECISION",
    "ML_DEPLOYMENT_ROLE",
    "ML_DRIFT_FEATURES",
    "ML_DRIFT_METHOD",
    "ML_DRIFT_SCORE",
    "ML_DRIFT_THRESHOLD",
    "ML_FEATURE_NAME",
    "ML_FEATURE_NAMES",
    "ML_FEATURE_PREFIX",
    "ML_FEATURE_STORE_NAME",
    "ML_FEATURE_STORE_PROJECT",
    "ML_FEATURE_STORE_SERVICE",
    "ML_FEATURE_VIEW_FRESHNESS",
    "ML_FEATURE_VIEW_NAME",
    "ML_FEATURE_VIEW_VERSION",
    "ML_LABEL_DELAY",
    "ML_LABEL_VALUE",
    "ML_MODEL_FRAMEWORK",
    "ML_MODEL_NAME",
    "ML_MODEL_RUN_ID",
    "ML_MODEL_TASK",
    "ML_MODEL_VERSION",
    "ML_OPERATION_NAME",
    "ML_PERFORMANCE_KIND",
    "ML_PERFORMANCE_METRIC",
    "ML_PERFORMANCE_REFERENCE",
    "ML_PERFORMANCE_THRESHOLD",
    "ML_PERFORMANCE_VALUE",
    "ML_POSTPROCESS_STEP",
    "ML_PREDICTION_BUCKET",
    "ML_PREDICTION_CLASS",
    "ML_PREDICTION_ID",
    "ML_PREDICTION_SCORE",
    "ML_PREDICTION_VALUE",
    "ML_SEGMENT_PREFIX",
    "ML_SLO_BURN_RATE",
    "ML_SLO_BURN_RATE_SHORT",
    "ML_SLO_BURN_RATE_THRESHOLD",
    "ML_SLO_ERROR_BUDGET_REMAINING",
    "ML_SLO_INDICATOR",
    "ML_SLO_NAME",
    "ML_SLO_TARGET",
    "ML_SLO_THRESHOLD",
    "ML_SLO_VALUE",
    "ML_SLO_WINDOW",
    "ML_SLO_WINDOW_SHORT",
    "OPERATION_FEATURE_LOOKUP",
    "OPERATION_INFERENCE",
    "OPERATION_LABEL",
    "OPERATION_POSTPROCESS",
    "SEMCONV_VERSION",
    "SPAN_NAME_FEATURE_LOOKUP",
    "SPAN_NAME_INFERENCE",
    "SPAN_NAME_LABEL",
    "SPAN_NAME_POSTPROCESS",
]
