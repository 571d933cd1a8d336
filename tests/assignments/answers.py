"""Students' answers to ai-101's ps1, for tests that act as students.

``full_marks_answers(notebook)`` and ``partial_answers(notebook)`` take the *released*
notebook (a dict as nbformat stores it) and return a copy whose solution cells, found by their
nbgrader ``grade_id``, hold a student's code; the input is left unchanged.
``expected_scores()`` is what nbgrader's autograder gives each: ``{"full": 10.0, "partial": 7.0}``
out of ``MAX_SCORE`` (10 points, all autograded).
"""

from __future__ import annotations

import copy

CORRECT = {
    "sigmoid": "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-z))\n",
    "predict-proba": "def predict_proba(w, b, X):\n    return sigmoid(X @ w + b)\n",
    "loss": (
        "def loss(w, b, X, y):\n"
        "    p = np.clip(predict_proba(w, b, X), 1e-12, 1 - 1e-12)\n"
        "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n"
    ),
    "gradient": (
        "def gradient(w, b, X, y):\n"
        "    error = predict_proba(w, b, X) - y\n"
        "    return X.T @ error / len(y), float(np.mean(error))\n"
    ),
    "train": (
        "def train(X, y, lr=0.5, epochs=200):\n"
        "    w, b = np.zeros(X.shape[1]), 0.0\n"
        "    for _ in range(epochs):\n"
        "        dw, db = gradient(w, b, X, y)\n"
        "        w, b = w - lr * dw, b - lr * db\n"
        "    return w, b\n"
    ),
    "accuracy": (
        "def accuracy(w, b, X, y):\n"
        "    return float(np.mean((predict_proba(w, b, X) > 0.5) == y))\n"
    ),
}
# Everything right except training, which forgets to take any step: test-train (3 points)
# fails, the other five test cells (7 points) pass.
PARTIAL = {
    **CORRECT,
    "train": "def train(X, y, lr=0.5, epochs=200):\n    return np.zeros(X.shape[1]), 0.0\n",
}
MAX_SCORE = 10.0
EXPECTED_SCORES = {"full": MAX_SCORE, "partial": 7.0}


def expected_scores() -> dict[str, float]:
    """``{"full": 10.0, "partial": 7.0}``: the autograded scores of the two answer sets."""
    return dict(EXPECTED_SCORES)


def _filled(notebook: dict, answers: dict[str, str]) -> dict:
    result = copy.deepcopy(notebook)
    seen = set()
    for cell in result["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
            seen.add(grade_id)
    missing = set(answers) - seen
    if missing:
        raise ValueError(f"the notebook has no solution cells {sorted(missing)}")
    return result


def full_marks_answers(notebook: dict) -> dict:
    """A copy of the released ``notebook`` answered correctly throughout."""
    return _filled(notebook, CORRECT)


def partial_answers(notebook: dict) -> dict:
    """A copy of the released ``notebook`` whose ``train`` never steps (7 of 10 points)."""
    return _filled(notebook, PARTIAL)
