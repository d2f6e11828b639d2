"""``ml-training``: models trained with scikit-learn on the platform's data,
low priority by default, with progress per fold or epoch; each model is
saved (joblib) with its metrics and hyperparameters.

- ``prediction``: power density (mW/m²) of an experiment at a given time
  from its set-up (elapsed hours, external resistance, anode area, volume,
  initial COD, temperature): random-forest regression, k-fold R² and MAE.
- ``classification``: the system type of a paper (MFC, MEC, MDC, MES...)
  from its text: TF-IDF and logistic regression over two-sentence passages, stratified
  k-fold accuracy and macro F1.
- ``parameter_extraction``: which parameter a sentence reports (power
  density, current density, voltage, coulombic efficiency, COD removal,
  electrode material, or none), learnt from the rule-based extractor's
  labels: character n-grams and a linear classifier trained epoch by epoch
  (SGD), accuracy on held-out sentences after each epoch.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any, NoReturn

from pydantic import Field

from engine.errors import UnrecoverableError
from messai_console.jobs.catalog import Payload, job_type
from messai_console.jobs.parameters import extract_parameters
from messai_console.jobs.queues import ML_TRAINING
from messai_console.jobs.runtime import Task
from messai_console.jobs.textmining import sentences

QUEUE = ML_TRAINING
TRAIN_OPTIONS: dict[str, Any] = {"priority": 10, "attempts": 1, "timeout_ms": 1_800_000}
FEATURES = (
    "elapsed_h",
    "external_resistance_ohm",
    "anode_area_cm2",
    "volume_ml",
    "cod_initial_mg_l",
    "temperature_c",
)


class PredictionParams(Payload):
    n_estimators: int = Field(default=100, ge=1, le=2000)
    max_depth: int | None = Field(default=None, ge=1, le=100)
    min_samples_leaf: int = Field(default=1, ge=1)


class ClassificationParams(Payload):
    C: float = Field(default=4.0, gt=0)
    ngram_max: int = Field(default=2, ge=1, le=3)
    max_features: int = Field(default=20_000, ge=10)


class ParameterExtractionParams(Payload):
    epochs: int = Field(default=15, ge=1, le=500)
    alpha: float = Field(default=1e-4, gt=0)
    holdout: float = Field(default=0.25, gt=0, lt=0.9)


class TrainPrediction(Payload):
    hyperparameters: PredictionParams = Field(default_factory=PredictionParams)
    cv_folds: int = Field(default=5, ge=2, le=20)


class TrainClassification(Payload):
    hyperparameters: ClassificationParams = Field(default_factory=ClassificationParams)
    cv_folds: int = Field(default=3, ge=2, le=20)


class TrainParameterExtraction(Payload):
    hyperparameters: ParameterExtractionParams = Field(default_factory=ParameterExtractionParams)


class DataNotReadyError(Exception):
    """Too little data now, but some is still being processed: worth another attempt."""


def _not_enough(task: Task[Any], table: str, message: str) -> NoReturn:
    """Fail for good, unless rows of ``table`` are still waiting to be processed
    (then the job's next attempt, after its backoff, may find enough)."""
    waiting = task.store.count(table, {"status": "uploaded"})
    if waiting:
        raise DataNotReadyError(f"{message} ({waiting} {table} not processed yet)")
    raise UnrecoverableError(message)


def _save(
    task: Task[Any], kind: str, model: Any, metrics: dict[str, Any], samples: int
) -> dict[str, Any]:
    import joblib

    model_id = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    path = task.paths.models / f"{model_id}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    hyperparameters = task.payload.hyperparameters.model_dump()
    now = time.time()
    task.store.upsert(
        "models",
        {
            "id": model_id,
            "kind": kind,
            "path": str(path),
            "samples": samples,
            "metrics": metrics,
            "hyperparameters": hyperparameters,
            "created_at": now,
        },
    )
    task.store.upsert(
        "files",
        {
            "id": f"file-{model_id}",
            "kind": "model",
            "path": str(path),
            "size": path.stat().st_size,
            "ref": model_id,
            "created_at": now,
        },
    )
    return {"model_id": model_id, "path": str(path), "samples": samples, "metrics": metrics}


@job_type(queue=QUEUE, name="prediction", payload=TrainPrediction, options=TRAIN_OPTIONS)
def train_prediction(task: Task[TrainPrediction]) -> dict[str, Any]:
    """Random-forest regression of power density on experiment set-up and time."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import KFold

    features, targets, experiments = [], [], set()
    for experiment in task.store.rows("experiments"):
        area_m2 = float(experiment["anode_area_cm2"] or 0) / 1e4
        if area_m2 <= 0:
            continue
        for row in task.store.rows(
            "measurements", {"experiment_id": experiment["id"]}, order_by=("seq",)
        ):
            features.append(
                [
                    row["time_s"] / 3600,
                    experiment["external_resistance_ohm"] or 0.0,
                    experiment["anode_area_cm2"],
                    experiment["volume_ml"] or 0.0,
                    experiment["cod_initial_mg_l"] or 0.0,
                    row["temperature_c"]
                    if row["temperature_c"] is not None
                    else experiment["temperature_c"] or 0.0,
                ]
            )
            targets.append(row["voltage_v"] * row["current_a"] / area_m2 * 1e3)
            experiments.add(experiment["id"])
    folds = task.payload.cv_folds
    if len(targets) < 2 * folds:
        _not_enough(
            task,
            "experiments",
            f"{len(targets)} measurements are too few to train with {folds} folds; "
            "process experiment results first",
        )
    x, y = np.array(features, dtype=float), np.array(targets, dtype=float)
    params = task.payload.hyperparameters
    scores = []
    for fold, (train, test) in enumerate(
        KFold(n_splits=folds, shuffle=True, random_state=0).split(x), start=1
    ):
        task.check_cancelled()
        model = RandomForestRegressor(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth,
            min_samples_leaf=params.min_samples_leaf,
            random_state=0,
        )
        model.fit(x[train], y[train])
        predicted = model.predict(x[test])
        scores.append(
            {
                "fold": fold,
                "r2": round(float(r2_score(y[test], predicted)), 4),
                "mae_mw_m2": round(float(mean_absolute_error(y[test], predicted)), 3),
            }
        )
        task.progress(90 * fold / folds, f"fold {fold} of {folds}: R² {scores[-1]['r2']}")
    final = RandomForestRegressor(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        min_samples_leaf=params.min_samples_leaf,
        random_state=0,
    ).fit(x, y)
    metrics = {
        "r2_mean": round(float(np.mean([s["r2"] for s in scores])), 4),
        "mae_mean_mw_m2": round(float(np.mean([s["mae_mw_m2"] for s in scores])), 3),
        "experiments": len(experiments),
        "folds": scores,
        "feature_importance": dict(
            zip(FEATURES, (round(float(v), 4) for v in final.feature_importances_), strict=True)
        ),
    }
    return _save(
        task,
        "prediction",
        {"model": final, "features": list(FEATURES), "target": "power_density_mw_m2"},
        metrics,
        len(y),
    )


def _passages(text: str, size: int = 2) -> list[str]:
    """The text cut into passages of ``size`` sentences: the classifier's samples."""
    parts = sentences(text)
    return [" ".join(parts[i : i + size]) for i in range(0, len(parts), size)]


@job_type(queue=QUEUE, name="classification", payload=TrainClassification, options=TRAIN_OPTIONS)
def train_classification(task: Task[TrainClassification]) -> dict[str, Any]:
    """TF-IDF + logistic regression: a paper's system type from passages of its text."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    texts, labels = [], []
    for paper in task.store.rows("papers"):
        if paper.get("text") and paper.get("system_type"):
            for passage in _passages(paper["text"]):
                texts.append(passage)
                labels.append(paper["system_type"])
    counts = Counter(labels)
    if len(counts) < 2:
        _not_enough(
            task,
            "papers",
            "need extracted papers of at least two system types; run extract_pdf first",
        )
    folds = min(task.payload.cv_folds, min(counts.values()))
    if folds < 2:
        raise UnrecoverableError(f"too few passages for cross-validation: {dict(counts)}")
    params = task.payload.hyperparameters
    y = np.array(labels)

    def pipeline() -> Any:
        return make_pipeline(
            TfidfVectorizer(
                stop_words="english",
                ngram_range=(1, params.ngram_max),
                max_features=params.max_features,
                sublinear_tf=True,
            ),
            LogisticRegression(C=params.C, max_iter=2000),
        )

    scores = []
    for fold, (train, test) in enumerate(
        StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(texts, y), start=1
    ):
        task.check_cancelled()
        model = pipeline().fit([texts[i] for i in train], y[train])
        predicted = model.predict([texts[i] for i in test])
        scores.append(
            {
                "fold": fold,
                "accuracy": round(float(accuracy_score(y[test], predicted)), 4),
                "macro_f1": round(
                    float(f1_score(y[test], predicted, average="macro", zero_division=0)), 4
                ),
            }
        )
        task.progress(
            90 * fold / folds, f"fold {fold} of {folds}: accuracy {scores[-1]['accuracy']}"
        )
    final = pipeline().fit(texts, y)
    metrics = {
        "accuracy_mean": round(float(np.mean([s["accuracy"] for s in scores])), 4),
        "macro_f1_mean": round(float(np.mean([s["macro_f1"] for s in scores])), 4),
        "classes": dict(counts),
        "folds": scores,
    }
    return _save(task, "classification", final, metrics, len(texts))


def sentence_labels(text: str) -> list[tuple[str, str]]:
    """(sentence, label): the first parameter the rule-based extractor finds in it, or "none"."""
    labelled = []
    for sentence in sentences(text):
        found = extract_parameters(sentence)
        label = found[0].name if found else "none"
        if label.endswith("_material"):
            label = "electrode_material"
        labelled.append((sentence, label))
    return labelled


@job_type(
    queue=QUEUE,
    name="parameter_extraction",
    payload=TrainParameterExtraction,
    options=TRAIN_OPTIONS,
)
def train_parameter_extraction(task: Task[TrainParameterExtraction]) -> dict[str, Any]:
    """A sentence classifier for parameter mentions, trained epoch by epoch with SGD."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    samples = [
        pair
        for paper in task.store.rows("papers")
        if paper.get("text")
        for pair in sentence_labels(paper["text"])
    ]
    if len(samples) < 10:
        _not_enough(
            task,
            "papers",
            f"{len(samples)} sentences are too few to train on; run extract_pdf first",
        )
    params = task.payload.hyperparameters
    texts = [text for text, _ in samples]
    labels = np.array([label for _, label in samples])
    train_text, test_text, train_y, test_y = train_test_split(
        texts, labels, test_size=params.holdout, random_state=0
    )
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    train_x = vectorizer.fit_transform(train_text)
    test_x = vectorizer.transform(test_text)
    classes = np.unique(labels)
    classifier = SGDClassifier(loss="log_loss", alpha=params.alpha, random_state=0)
    rng = np.random.default_rng(0)
    history = []
    for epoch in range(1, params.epochs + 1):
        task.check_cancelled()
        order = rng.permutation(train_x.shape[0])
        classifier.partial_fit(train_x[order], train_y[order], classes=classes)
        accuracy = float(np.mean(classifier.predict(test_x) == test_y))
        history.append(round(accuracy, 4))
        task.progress(
            95 * epoch / params.epochs,
            f"epoch {epoch} of {params.epochs}: held-out accuracy {accuracy:.3f}",
        )
    metrics = {
        "accuracy": history[-1],
        "accuracy_by_epoch": history,
        "train_sentences": len(train_text),
        "test_sentences": len(test_text),
        "classes": {str(label): int(count) for label, count in Counter(labels.tolist()).items()},
    }
    return _save(
        task,
        "parameter_extraction",
        {"vectorizer": vectorizer, "classifier": classifier},
        metrics,
        len(samples),
    )
