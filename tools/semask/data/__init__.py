"""Stage 1: the Cityscapes val split in, labels and input bins out (plus the synthetic generator)."""
