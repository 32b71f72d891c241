"""Stage 2, the data: the catalog of images and labels, the tf.data pipeline, augmentation, the preview."""
