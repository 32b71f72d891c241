"""Fan-out: one kernel per fold, each training only its fold, so that the folds run side by side on Kaggle.

The fold kernels are pushed under a cap of concurrent sessions by ``kernels.remote.push_folds``, and their
outputs merged with ``kagglekit ensemble``.
"""

from __future__ import annotations

import dataclasses

from kagglekit.core.errors import KagglekitError
from kagglekit.kernels.spec import KernelSpec


def fold_specs(spec: KernelSpec) -> list[KernelSpec]:
    """One kernel per fold (each trains only its fold, no submission), for a fan-out."""
    if spec.config.fold is not None:
        raise KagglekitError("this kernel already trains a single fold (--fold); build it without --fold to fan out")
    if spec.predict_from:
        raise KagglekitError("an inference kernel trains no folds to fan out; push it without --folds-parallel")
    base = spec.name[:50 - len(f"-fold{spec.config.folds - 1}")].rstrip("-")  # slugs are at most 50 characters
    return [dataclasses.replace(spec, name=f"{base}-fold{k}", config=spec.config.replace(fold=k), predict=False,
                                fan_out_of=spec.name) for k in range(spec.config.folds)]
