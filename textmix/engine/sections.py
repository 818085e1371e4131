"""The sections every recipe shares (``mixup``, ``optim``, ``train``, ``eval``; ``loss`` is assembled
from the registered methods): dataclasses whose ``Args:`` docstrings are the recipe-key docs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MixupConfig:
    """Args:
    alpha: λ ~ Beta(α, α); 0 disables mixing. Used by the methods that mix (the README's method
        table; each method's recipes use its paper's α).
    per_sample: one λ per example instead of one per batch (paper default: per batch).
    mix_point: where the model mixes (each task lists its models' mix points with model.name);
        None: the task's default.
    """

    alpha: float = 0.4
    per_sample: bool = False
    mix_point: str | None = None


@dataclass
class OptimConfig:
    """Args:
    name: adadelta (Kim), adamw (fine-tuning) or sgd.
    lr: learning rate.
    weight_decay: L2 / decoupled weight decay.
    momentum: sgd momentum.
    nesterov: sgd Nesterov momentum.
    rho: adadelta decay of squared gradients (Kim: 0.95).
    eps: adadelta / adamw epsilon (Kim: 1e-6).
    schedule: constant, linear (warmup then linear decay to 0) or step.
    warmup_ratio: linear: share of steps spent warming up.
    milestones: step: epochs at which lr is multiplied by gamma.
    gamma: step: decay factor.
    grad_clip: clip the gradient norm to this value (None: off).
    """

    name: str = "adadelta"
    lr: float = 1.0
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    rho: float = 0.95
    eps: float = 1e-6
    schedule: str = "constant"
    warmup_ratio: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    grad_clip: float | None = None


@dataclass
class TrainConfig:
    """Args:
    epochs: passes over the training set.
    batch_size: examples per step and process (Kim: 50).
    eval_batch_size: examples per evaluation batch.
    seed: seed of initialization, dropout, shuffling and mixup (each rank derives its own).
    log_every: steps between loss logs and non-finite loss checks.
    output_dir: run directory (the CLI's --output-dir wins).
    compile: ``torch.compile`` the model (the first steps are slower while it compiles; text batch
        lengths are rounded up to multiples of 16 so that few shapes occur).
    log_with: experiment trackers through accelerate: tensorboard (the run's tensorboard/), mlflow
        (MLFLOW_TRACKING_URI, else the run's mlflow.db), wandb, comet_ml, aim, clearml, dvclive,
        swanlab, trackio; [] for none. Each gets the recipe, the loss, per-epoch validation metrics
        and the final test metrics (raw and calibrated); a tracker not installed is refused.
    """

    epochs: int = 10
    batch_size: int = 50
    eval_batch_size: int = 256
    seed: int = 1
    log_every: int = 50
    output_dir: str | None = None
    compile: bool = False
    log_with: list[str] = field(default_factory=lambda: ["tensorboard"])


@dataclass
class EvalConfig:
    """Args:
    n_bins: reliability bins for ECE / OE / MCE (15 as in the paper).
    temperature_scaling: fit the post-hoc calibrators on validation logits and report metrics
        before and after (False: fit none).
    calibrators: registered post-hoc calibrators fitted on validation ({calibrators}); metrics.json
        holds the test metrics after each under calibrated (with bootstrap intervals, validation
        metrics in-sample and cross-fitted) and which one was chosen (calibrator_choice).
    calibrator: the calibrator saved with the model and applied by predict: auto (the lowest
        cross-fitted validation NLL among eval.calibrators) or one of eval.calibrators.
    mc_dropout_samples: T > 0 stochastic forward passes with dropout on (norm layers in eval).
    ood: out-of-distribution sets for AUROC of winning scores: dataset names of the task (see
        data.name) or noise sets (gaussian_noise; each task lists its own).
    shift: test sets of another domain with the same label names, each evaluated raw and after
        every calibrator fitted in-domain, with the conformal sets of eval.conformal calibrated
        in-domain (text: a built-in dataset name, e.g. imdb for mr, or a CSV / JSON Lines / parquet
        file with the recipe's text and label columns); empty: off.
    bootstrap_resamples: resamples of the test examples for 95% intervals of accuracy, ECE, OE
        and AURC (metrics.json "intervals"); 0: off.
    floor_draws: label draws of the noise floor of each calibration error (metrics.json "floor":
        what a perfectly calibrated model with the same confidences scores; smooth ECE takes a
        fifth of them); 0: off.
    perturbation: distances μ for test inputs moved to x + μ·d/‖d‖, d ~ U(−1, 1)^m (accuracy,
        winning score and entropy per μ; continuous inputs only, not tokens); empty: off.
    conformal: split-conformal prediction sets, e.g. {alpha: [0.1, 0.05]}: alpha (miscoverage
        levels; metrics.json "conformal" per level and method, on raw probabilities and after each
        fitted calibrator), methods ({scores}; default [lac]; aps, raps and saps on two classes only
        with randomized: true, refused before training otherwise), split (share of
        validation carved, stratified and seeded, for conformal calibration only; 0: all of
        validation, which also selects the epoch and fits the calibrators), mondrian (one
        threshold per class), randomized. The model folder keeps each method's calibration
        scores, for predict --conformal.
    risk_control: abstention with a guarantee (Learn then Test), e.g. {risk: [0.05, 0.1], delta: 0.1}:
        for each level ε, the confidence threshold chosen on the conformal calibration rows so that,
        with probability >= 1 - delta, the error rate among answered examples is <= ε; metrics.json
        "risk_control" has its test coverage and risk per calibrator; procedure: fixed_sequence,
        holm or bonferroni. The model folder keeps the counts predict --target-risk needs anyway.
    """

    n_bins: int = 15
    temperature_scaling: bool = True
    calibrators: list[str] = field(default_factory=lambda: ["temperature"])
    calibrator: str = "auto"
    mc_dropout_samples: int = 0
    ood: list[str] = field(default_factory=list)
    shift: list[str] = field(default_factory=list)
    bootstrap_resamples: int = 1000
    floor_draws: int = 1000
    perturbation: list[float] = field(default_factory=list)
    conformal: dict = field(default_factory=dict)
    risk_control: dict = field(default_factory=dict)

    @property
    def fitted_calibrators(self) -> list[str]:
        """The calibrators a run fits: ``calibrators``, or none with ``temperature_scaling: false``."""
        return list(self.calibrators) if self.temperature_scaling else []
