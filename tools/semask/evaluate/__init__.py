"""Stage 4: predictions in, mIoU, reports, panels and results tables out."""
