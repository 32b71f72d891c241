"""The built-in demo competition: scikit-learn's handwritten digits, shipped as a Kaggle competition would be.

1,797 real 8x8 grayscale scans (16 grey levels), ten classes. They are
written out as PNG files with a CSV of labels, a sample submission with one
probability column per class, and a sealed solution for the sandbox's scorer,
so every code path of a real CSV-labelled, multi-class competition runs on
them with no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kagglekit.core.atomic import atomic_folder

SLUG = "demo-digits"
N_TEST = 300
CLASSES = [str(d) for d in range(10)]


def write_demo_competition(out_dir: Path, seed: int = 0) -> Path:
    """Write the demo competition's files into OUT_DIR (complete, or not at all)."""
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits

    out_dir = Path(out_dir)
    if (out_dir / "sample_submission.csv").is_file():
        return out_dir
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    ids = [f"{i:05d}" for i in range(len(order))]
    with atomic_folder(out_dir, replace=False) as tmp:  # the sandbox and a command may both write it
        (tmp / "train").mkdir()
        (tmp / "test").mkdir()
        rows_train, rows_test = [], []
        for k, idx in enumerate(order):
            split = "test" if k < N_TEST else "train"
            Image.fromarray(pixels[idx], mode="L").save(tmp / split / f"{ids[k]}.png")
            (rows_test if split == "test" else rows_train).append((ids[k], str(digits.target[idx])))
        pd.DataFrame(rows_train, columns=["id", "label"]).to_csv(tmp / "train_labels.csv", index=False)
        test_ids = [i for i, _ in rows_test]
        uniform = pd.DataFrame({"id": test_ids, **{c: 0.1 for c in CLASSES}})
        uniform.to_csv(tmp / "sample_submission.csv", index=False)
        solution = pd.DataFrame({"id": test_ids, "label": [lab for _, lab in rows_test]})
        solution.to_csv(tmp / "solution.csv", index=False)
    return out_dir


# The code competition: the same scans split three ways. The public test set is what `fetch` gets; the
# hidden one (other ids, more than twice as many images) is what the sandbox's rerun of a kernel sees.
CODE_SLUG = "demo-digits-code"
N_PUBLIC_TEST, N_HIDDEN_TEST = 150, 400


def write_demo_code_competition(out_dir: Path, hidden: str, seed: int = 1) -> Path:
    """Write the code competition's files into OUT_DIR: train, public test, and under HIDDEN the hidden
    test set with its own sample submission and solution (complete, or not at all)."""
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits

    out_dir = Path(out_dir)
    if (out_dir / hidden / "solution.csv").is_file():
        return out_dir
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    splits = {"public": order[:N_PUBLIC_TEST], "hidden": order[N_PUBLIC_TEST:N_PUBLIC_TEST + N_HIDDEN_TEST],
              "train": order[N_PUBLIC_TEST + N_HIDDEN_TEST:]}
    with atomic_folder(out_dir, replace=False) as tmp:
        roots = {"train": tmp / "train", "public": tmp / "test", "hidden": tmp / hidden / "test"}
        rows = {}
        for split, indices in splits.items():
            roots[split].mkdir(parents=True)
            rows[split] = [(f"{idx:05d}", str(digits.target[idx])) for idx in indices]  # ids differ across splits
            for (name, _), idx in zip(rows[split], indices):
                Image.fromarray(pixels[idx], mode="L").save(roots[split] / f"{name}.png")
        pd.DataFrame(rows["train"], columns=["id", "label"]).to_csv(tmp / "train_labels.csv", index=False)
        for split, folder in (("public", tmp), ("hidden", tmp / hidden)):
            ids = [i for i, _ in rows[split]]
            pd.DataFrame({"id": ids, **{c: 0.1 for c in CLASSES}}).to_csv(folder / "sample_submission.csv", index=False)
            pd.DataFrame(rows[split], columns=["id", "label"]).to_csv(folder / "solution.csv", index=False)
    return out_dir
