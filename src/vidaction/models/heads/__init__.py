"""Detection and classification heads that attach to backbone feature maps."""
