"""trainer.ema_decay: an exponential moving average of the weights, which validation, the best epoch, the
submissions, the logged model and the bundle use instead of the last step's raw weights."""

import copy

import torch

# timm's ModelEmaV3(use_warmup=True): the decay after n updates is 1 - (1 + n) ** -2/3, capped at
# trainer.ema_decay; 0.37 after one update, 0.95 after 100, 0.99 after 1,000. A fixed 0.999 would keep
# a third of the initial weights after a 400-step run (0.999 ** 400 = 0.67).
WARMUP_POWER = 2 / 3


class WeightsEma:
    """The averaged copy of a model: its parameters and floating buffers (BatchNorm's running mean and
    variance, averaged as timm does) move towards the model's after every optimizer step; integer
    buffers (BatchNorm's batch count) are copied."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    def current_decay(self) -> float:
        """The decay of the next update: 0 at the first (a copy), then warmed up towards self.decay."""
        if self.updates == 0:
            return 0.0
        return min(self.decay, 1 - (1 + self.updates) ** -WARMUP_POWER)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = self.current_decay()
        for averaged, current in zip(
            self.module.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if averaged.is_floating_point():
                averaged.lerp_(current, 1 - decay)
            else:
                averaged.copy_(current)
        self.updates += 1
