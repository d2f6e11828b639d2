"""What analyze_content computes from a paper's text: sections, keywords, statistics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

SECTION_NAMES = (
    "abstract",
    "introduction",
    "background",
    "materials and methods",
    "methods",
    "experimental",
    "results and discussion",
    "results",
    "discussion",
    "conclusions",
    "conclusion",
    "acknowledgements",
    "references",
)
_HEADING = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?\s+)?("
    + "|".join(re.escape(n) for n in SECTION_NAMES)
    + r")\s*:?\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_NUMBER = re.compile(r"(?<![\w.])[-\u2212]?\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
WORDS_PER_MINUTE = 230


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    """Sentences of running text (line breaks from the PDF layout joined first)."""
    flat = normalise_space(text)
    return [part for part in _SENTENCE_END.split(flat) if part]


def find_sections(text: str) -> list[dict[str, Any]]:
    """Recognised section headings in order, with the words under each."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            current = {"name": match.group(1).lower(), "heading": line.strip(), "words": 0}
            found.append(current)
        elif current is not None:
            current["words"] += len(_WORD.findall(line))
    return found


def statistics(text: str) -> dict[str, Any]:
    words = [word.lower() for word in _WORD.findall(text)]
    sentence_list = sentences(text)
    unique = len(set(words))
    return {
        "characters": len(text),
        "words": len(words),
        "unique_words": unique,
        "lexical_diversity": round(unique / len(words), 4) if words else 0.0,
        "sentences": len(sentence_list),
        "mean_sentence_words": round(len(words) / len(sentence_list), 2) if sentence_list else 0.0,
        "numbers": len(_NUMBER.findall(text)),
        "reading_minutes": round(len(words) / WORDS_PER_MINUTE, 1),
    }


def keywords(text: str, corpus: Sequence[str], top: int = 10) -> list[dict[str, Any]]:
    """The terms (words and word pairs) that weigh most in ``text`` against ``corpus`` (TF-IDF)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = [text, *[doc for doc in corpus if doc and doc is not text]]
    vectorizer = TfidfVectorizer(
        stop_words="english",
        ngram_range=(1, 2),
        token_pattern=r"(?u)\b[A-Za-z][A-Za-z-]+\b",
        sublinear_tf=True,
    )
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # nothing but stop words
        return []
    row = matrix.getrow(0).toarray().ravel()
    terms = vectorizer.get_feature_names_out()
    order = row.argsort()[::-1]
    return [
        {"term": str(terms[index]), "score": round(float(row[index]), 4)}
        for index in order[:top]
        if row[index] > 0
    ]
