"""Fine-tuning a pretrained backbone in two stages, as Kaggle GPU users do.

Stage 1 trains only the new head, the backbone frozen, for `head_epochs` at
`head_learning_rate`: a randomly initialised head would otherwise send large
gradients through the pretrained layers and wreck them. Stage 2 unfreezes the
backbone (all of it, or its top `unfreeze` layers) and trains on at the lower
`learning_rate` with the fold's schedule. Batch-normalization layers stay
frozen and in inference mode in both stages (the backbone is called with
training=False, see models.py): their ImageNet statistics are not re-estimated
from small batches of a new dataset.

The head-only weights are kept in the fold (FoldFiles.head_weights), so a run
killed during stage 2 resumes there without repeating stage 1. Both stages
share the fold's time plan (budget.FoldPlan): the planned epochs count both,
and a budget that ends the fold during stage 1 leaves stage 2 out.
"""

from __future__ import annotations

import logging

import keras

from kagglekit.core.atomic import atomic_target

log = logging.getLogger("kagglekit")


def backbone_of(model) -> keras.Model | None:
    """The pretrained backbone inside MODEL (a keras.applications model nested as one layer), if it has one."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested[0] if nested else None


def freeze_backbone(model) -> None:
    """Stage 1: only the layers outside the backbone (the head) train."""
    backbone_of(model).trainable = False


def unfreeze_backbone(model, top_layers: int = 0) -> None:
    """Stage 2: the backbone's top TOP_LAYERS layers (0: all) train; batch normalization stays frozen."""
    backbone = backbone_of(model)
    backbone.trainable = True
    layers = backbone.layers
    for i, layer in enumerate(layers):
        top = top_layers == 0 or i >= len(layers) - top_layers
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def save_weights(model, path) -> None:
    """MODEL's weights into PATH, atomically (the file marks stage 1 as done)."""
    with atomic_target(path) as tmp:
        model.save_weights(str(tmp))


def fit_two_stages(build, fit, fold, config, plan) -> keras.Model:
    """Train the head, then the backbone too; returns the trained model.

    BUILD(learning_rate, stage) -> a compiled model for that stage (its
    trainable layers set); FIT(model, first_epoch, last_epoch, stage) runs
    model.fit with the fold's callbacks for that stage.
    """
    head = fold.head_weights
    if not head.is_file():
        model = build(config.head_learning_rate, 1)
        log.info("fine-tuning, stage 1: %d epochs of the head alone, the backbone frozen", config.head_epochs)
        fit(model, 0, config.head_epochs, 1)
        if plan.stopped:  # the budget ended the fold during stage 1
            return model
        save_weights(model, head)
    model = build(config.learning_rate, 2)
    model.load_weights(str(head))
    log.info("fine-tuning, stage 2: %s of the backbone unfrozen (batch normalization frozen), learning rate %g",
             f"the top {config.unfreeze} layers" if config.unfreeze else "all layers", config.learning_rate)
    fit(model, config.head_epochs, config.epochs, 2)
    return model
