"""uint8 batches of the cached images, moved to the training device."""

from collections.abc import Iterator

import numpy as np
import torch


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """uint8 batches on the device; shuffled when a generator is given."""
    order = index if generator is None else index[torch.randperm(len(index), generator=generator).numpy()]
    pin = device.type == "cuda"
    for start in range(0, len(order), batch_size):
        # Sorted rows read the memory-mapped cache front to back; order inside a batch does not matter.
        rows = np.sort(order[start : start + batch_size])
        x = torch.from_numpy(np.ascontiguousarray(images[rows]))
        y = torch.from_numpy(labels[rows])
        if pin:
            x, y = x.pin_memory(), y.pin_memory()
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
