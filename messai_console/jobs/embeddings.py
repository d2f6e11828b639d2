"""Vectors for search, computed locally (no model download, ever).

``hashing`` (the default) hashes word unigrams and bigrams into a fixed
number of dimensions (scikit-learn's HashingVectorizer) with sublinear term
weights and L2 normalisation: stateless, so a query is embedded exactly like
a paper and papers embedded at different times stay comparable.
``lsa`` fits TF-IDF plus a truncated SVD on the paragraphs of every stored
paper (latent semantic analysis): denser vectors that capture co-occurrence,
at the cost of re-embedding when the corpus changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np


Method = Literal["hashing", "lsa"]


def hashing_vectors(texts: Sequence[str], dims: int) -> np.ndarray:
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    vectorizer = HashingVectorizer(
        n_features=dims, alternate_sign=False, norm=None, ngram_range=(1, 2), stop_words="english"
    )
    counts = vectorizer.transform(texts)
    weighted = TfidfTransformer(use_idf=False, sublinear_tf=True, norm="l2").fit_transform(counts)
    return np.asarray(weighted.toarray(), dtype=np.float32)


def lsa_vectors(texts: Sequence[str], corpus: Sequence[str], dims: int) -> tuple[np.ndarray, int]:
    """Vectors of ``texts`` in a latent space fitted on ``corpus`` paragraphs; returns the dims used."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    paragraphs = [p for doc in corpus for p in doc.split("\n\n") if len(p.split()) > 3] or list(
        texts
    )
    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(paragraphs)
    matrix = tfidf.transform(paragraphs)
    components = max(1, min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1))
    svd = TruncatedSVD(n_components=components, random_state=0).fit(matrix)
    vectors = svd.transform(tfidf.transform(texts))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(vectors / norms, dtype=np.float32), components


def to_blob(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype="<f4")


def rank(
    query: np.ndarray, candidates: dict[str, np.ndarray], top: int = 5
) -> list[dict[str, Any]]:
    """Candidates by cosine similarity to ``query`` (vectors are unit length)."""
    import numpy as np

    scored = sorted(
        (
            (round(float(np.dot(query, vector)), 4), key)
            for key, vector in candidates.items()
            if vector.shape == query.shape
        ),
        reverse=True,
    )
    return [{"id": key, "score": score} for score, key in scored[:top]]
