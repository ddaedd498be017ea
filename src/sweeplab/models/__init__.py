"""Models: the seed CNN, torchvision and timm models with a new head, their weights and features."""
