"""What every recipe provides to the generic trainer (docs/architecture.md rule 4), and shared helpers.

A recipe owns its networks, optimisers and steps: ``d_step(batch)`` and ``g_step(batch)`` each do one
update and return a dict of detached scalar tensors (losses, mean D scores, gradient norms);
``sample(n, ...)`` draws from the generator. The trainer never looks inside.

Conditional recipes set ``uses_labels`` and get ``(images, labels)`` batches. Their generators carry the
condition inside the latent that ``sample_noise`` returns (e.g. noise with the class index appended), so
``net(net.sample_noise(n))`` still draws samples: fixed-noise figures, the EMA copy, export, ``gankit
sample`` and every metric work on them unchanged.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any, Literal, overload

import torch
from torch import Tensor, nn

from gankit.objectives.base import Objective
from gankit.registry import NETWORKS
from gankit.sampling import GENERATE_BATCH, generate  # noqa: F401  (the one sampler, re-exported)


def build_optimizer(params: Iterable[nn.Parameter], cfg: Any) -> torch.optim.Optimizer:
    """Optimiser from an OptimConfig (name, lr, betas, weight_decay)."""
    params = list(params)
    if cfg.name == "adam":
        # the fused kernel: one pass over all tensors instead of several per tensor (3.3x faster steps for the
        # toy MLPs on CPU, ~5 % of a grid25 training step; BENCHMARKS.md). Same update rule as the default.
        fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                                fused=fused or None)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.betas[0], weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimiser '{cfg.name}'")


def grad_norm(module: nn.Module) -> Tensor:
    """Euclidean norm of all gradients of ``module`` (0 when none)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads).detach()


def discriminator_calls(
    real: Tensor, fake: Tensor, to_prob: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample "D got it right" (1, ½ at the threshold, 0) for raw scores of real and fake samples.

    With a probability objective (``to_prob``, e.g. the sigmoid of the JS family) a sample is called real
    when D(x) > 1/2. A critic's score has no fixed offset (adding a constant changes nothing in WGAN), so
    its threshold is the midpoint of the mean real and mean fake scores of the batch. Tensors stay on their
    device (no synchronisation): ``(right_real (N,), right_fake (M,), threshold ())``.
    """
    with torch.no_grad():
        r = (to_prob(real) if to_prob is not None else real).detach().reshape(-1).float()
        f = (to_prob(fake) if to_prob is not None else fake).detach().reshape(-1).float()
        t = torch.full((), 0.5, device=r.device) if to_prob is not None else 0.5 * (r.mean() + f.mean())
        right_real = (r > t).float() + 0.5 * (r == t).float()
        right_fake = (f < t).float() + 0.5 * (f == t).float()
    return right_real, right_fake, t


def balanced_accuracy(real: Tensor, fake: Tensor, to_prob: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """D's balanced accuracy ½ (share of real called real + share of fake called fake), by
    :func:`discriminator_calls`; a () tensor on the scores' device."""
    right_real, right_fake, _ = discriminator_calls(real, fake, to_prob)
    return 0.5 * (right_real.mean() + right_fake.mean())


@overload
def optimizer_step(opt: torch.optim.Optimizer, module: nn.Module, loss: Tensor,
                   norm: Literal[True] = ...) -> Tensor: ...
@overload
def optimizer_step(opt: torch.optim.Optimizer, module: nn.Module, loss: Tensor, norm: bool) -> Tensor | None: ...
def optimizer_step(opt: torch.optim.Optimizer, module: nn.Module, loss: Tensor, norm: bool = True) -> Tensor | None:
    """Zero the gradients, backpropagate ``loss`` and take one step; returns ``module``'s gradient norm
    (None with ``norm=False``: steps whose statistics nobody logs, :attr:`Recipe.stats_wanted`)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    g = grad_norm(module) if norm else None
    opt.step()
    return g


class Recipe(abc.ABC):
    """The recipe contract: what the trainer, the callbacks and :mod:`gankit.api` rely on.

    Subclasses set ``generator`` and ``optimizers`` in ``__init__(cfg, data_shape, device)`` and implement
    :meth:`d_step`, :meth:`g_step` and :meth:`modules` (abstract: a class missing one is refused, by
    :func:`check_recipe` with the names, and by Python when it is instantiated). Everything else is an optional
    capability with a documented default here, so callers call it instead of probing for attributes.
    """

    # An nn.Module with ``sample_noise(n, device=, generator=)`` (gankit.nets.capabilities.GeneratorNet). Typed Any:
    # the families share no base class, and nn.Module's __getattr__ would type sample_noise as Tensor | Module.
    generator: Any
    optimizers: dict[str, torch.optim.Optimizer]
    # The loss pair of D's scores: ``objective.to_prob`` maps them to the "D(x)" the figures show (None: a
    # critic). None: no discriminator scores to show.
    objective: Objective | None = None
    # True: the trainer passes ``(x, y)`` batches from ``dataset.sample_with_labels`` (conditional recipes);
    # False: image or point tensors from ``dataset.sample``.
    uses_labels: bool = False
    # False: no discriminator (auto-encoders); the trainer then calls only ``g_step``, drawing no batches
    # for discriminator steps, whatever ``train.d_steps`` says.
    adversarial: bool = True
    # The trainer sets this False before steps whose statistics it will not log (all but every
    # train.log_every-th): a recipe may then skip its monitoring statistics (D's accuracy, mean scores,
    # gradient norms; ~2 ms of a 13 ms grid25 step on 2 threads) and return just its losses, which the
    # trainer checks for NaN every step. Direct calls of the steps get everything.
    stats_wanted: bool = True
    # The fraction of training done, min(step / train.steps, 1), set by the trainer before every iteration:
    # what annealed remedies (reg.schedule=linear) follow. 0 for direct calls of the steps.
    progress: float = 0.0
    # D judges this many samples at once (PacGAN, ``model.pack``): every batch the trainer draws, on every
    # rank, must be a multiple of it.
    pack: int = 1

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        """Build the networks and optimisers for one sample of ``data_shape`` on ``device`` (subclasses; a
        recipe's own extra arguments take defaults)."""
        self.device = torch.device(device)

    @staticmethod
    def prepare_config(cfg: Any, dataset: Any) -> None:
        """Adjust ``cfg`` to the data set before the recipe is built (e.g. cgan: the class count), or raise a
        ConfigError saying why the two do not fit. The default changes nothing."""
        return None

    def prepare_data(self, dataset: Any) -> None:
        """Look at the training data once, after the recipe is built and before its first step (e.g. the AAE's
        ``model.prior_clusters=encoder`` keeps the samples it re-clusters); ``build_trainer`` calls it, a resumed run
        before its checkpoint is restored over what it set. The global RNG must not move. The default does nothing."""
        return None

    def prepare_fresh(self, dataset: Any) -> None:
        """Fit what the recipe learns from the training data before its first step and keeps in its saved state
        (e.g. StackGAN's ``model.caption_prior``): ``build_trainer`` calls it after :meth:`prepare_data` on a fresh
        start only; a resumed run, and a recipe loaded from a checkpoint (``load_recipe``), take it from the
        checkpoint instead. The global RNG must not move. The default does nothing."""
        return None

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The generator network as the recipe builds it, untrained: what ``generator.safetensors`` holds and
        ``api.load_generator`` rebuilds. The default: the generator family's G (``generator.name``)."""
        return NETWORKS.get(cfg.generator.name).generator(cfg.generator, data_shape)

    @abc.abstractmethod
    def d_step(self, batch: Any) -> dict[str, Tensor]:
        """One discriminator update on a batch (a tensor; ``(x, y)`` for ``uses_labels``): detached scalars."""

    @abc.abstractmethod
    def g_step(self, batch: Any) -> dict[str, Tensor]:
        """One generator update on a batch (fresh noise inside): a dict of detached scalar tensors."""

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network whose weights make up the model's state."""

    def metric_net(self, net: nn.Module) -> Any:
        """What the metrics that score a generator (``needs_net``) are handed for ``net``, the generator being
        scored: ``net`` itself by default; an auto-encoder hands its decoder with its encoder and prior (the
        ``code-prior`` metric). Evaluation of an exported run loads the last checkpoint only for a recipe
        that overrides this."""
        return net

    def discriminator_scores(self, real: Any, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor] | None:
        """D's raw scores on what it is trained to call real and on as many samples it is trained to call
        fake, each (N,): what the diagnostics measure D's accuracy and its D(x) / D(G(z)) histograms on.

        Args:
            real: a batch as the trainer draws it: images or points, or ``(x, labels)`` for ``uses_labels``
                recipes (class indices, caption tokens).
            generator: private RNG for the generated side (fresh samples of the training generator, not
                the EMA copy, for the batch's conditions); the global RNG does not move.

        Returns:
            (scores of the real side, scores of the fake side), with networks in eval mode and no
            gradient; ``self.objective.to_prob`` maps them to probabilities (None: a critic). None for a
            recipe without a discriminator (this default).
        """
        return None

    def scores(self, x: Tensor) -> Tensor | None:
        """Raw D scores (B,) of points ``x``, no gradient: the D(x) heatmap of the 1-D/2-D figures. None (this
        default): the recipe has no D of data points to show."""
        return None

    def generator_push(self, fake: Tensor) -> Tensor | None:
        """-∇ₓ of the generator's loss at samples ``fake`` (B, dim): where G's update moves each one, the
        figures' arrows (GAN Lab). None (this default): no such gradient to show."""
        return None

    def callbacks(self) -> list[Any]:
        """Training callbacks the recipe adds to the usual ones (e.g. its own end-of-run figures)."""
        return []

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, net: nn.Module | None = None,
        batch_size: int = GENERATE_BATCH,
    ) -> Tensor:
        """``n`` generator samples; ``generator`` is a private RNG, ``net`` e.g. the EMA generator."""
        return self.sample_with_labels(n, generator, net, batch_size)[0]

    @torch.no_grad()
    def sample_with_labels(
        self, n: int, generator: torch.Generator | None = None, net: nn.Module | None = None,
        batch_size: int = GENERATE_BATCH,
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`sample` and the (n,) classes the samples were drawn for (None for an unconditional G)."""
        return generate(net if net is not None else self.generator, n, generator, batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            saved = state["optimizers"][k]
            if "fused" in o.param_groups[0]:  # keep this optimiser's kernel choice, not the checkpoint's
                saved = {**saved, "param_groups": [{**g, "fused": o.param_groups[0]["fused"]}
                                                   for g in saved["param_groups"]]}
            o.load_state_dict(saved)


def check_recipe(cls: Any, name: str = "") -> None:
    """Refuse a recipe class that does not keep the :class:`Recipe` contract, naming what it lacks.

    Raises:
        TypeError: ``cls`` is not a Recipe subclass, or leaves some of d_step, g_step, modules unimplemented.
    """
    title = getattr(cls, "__name__", repr(cls))  # a class's name; whatever else was registered, as it prints
    what = f"recipe '{name}' ({title})" if name else f"recipe class {title}"
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise TypeError(f"{what} is not a gankit.models.base.Recipe subclass: a recipe subclasses Recipe and "
                        "implements d_step, g_step and modules")
    missing = sorted(cls.__abstractmethods__)
    if missing:
        raise TypeError(f"{what} does not implement {', '.join(missing)}: every recipe implements d_step, "
                        "g_step and modules (gankit.models.base.Recipe)")
