"""Embedding mixup and calibration for ``transformers.Trainer`` scripts.

    from textmix.integrations.transformers import MixupTrainer, calibration_metrics

    trainer = MixupTrainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                           processing_class=tokenizer, compute_metrics=calibration_metrics,
                           mixup_alpha=0.4, temperature_scaling=True)
    trainer.train()

Why a ``Trainer`` subclass that mixes through a forward hook, not a model wrapper: the model stays
the stock ``AutoModelForSequenceClassification``, so ``save_model``, ``push_to_hub`` and
``from_pretrained`` work unchanged; and the mixing runs inside the model's own forward (the hook
mixes the word-embedding module's output, before position embeddings are added, which is what
passing mixed ``inputs_embeds`` does), so DDP sees every parameter used in its forward, and
autocast, gradient accumulation and ``group_by_length`` apply as for any model. Each training
batch gets a :class:`textmix.mixup.MixupPlan`: λ ~ Beta(α, α) and a pairing permutation; the
attention mask becomes the union of the pair's masks and the loss is the soft-target cross
entropy against the mixed labels (with label smoothing or the ERL confidence penalty if asked).
Evaluation batches are not mixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from textmix.calibrate import CALIBRATION_FILE, RELIABILITY_FILE
from textmix.calibration import apply_temperature, calibration_report, fit_temperature
from textmix.errors import ArgumentError
from textmix.io import atomic_write_json
from textmix.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.mixup import Mixup, MixupPlan, one_hot_targets
from textmix.plots import reliability_diagram, save_figure


def _softmax(logits) -> np.ndarray:
    return torch.softmax(torch.as_tensor(np.asarray(logits), dtype=torch.float64), dim=-1).numpy()


def calibration_metrics(eval_pred) -> dict[str, float]:
    """``compute_metrics`` for a Trainer: accuracy, ECE, OE, MCE (15 bins), NLL and Brier of the
    softmax of the logits."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    logits = logits[0] if isinstance(logits, tuple) else logits
    report = calibration_report(_softmax(logits), np.asarray(labels))
    return {k: report[k] for k in ("accuracy", "ece", "oe", "mce", "nll", "brier")}


class MixupTrainer(Trainer):
    """A ``transformers.Trainer`` that trains any sequence classifier with textmix's mixer at the
    word embeddings.

    Args:
        mixup_alpha: λ ~ Beta(α, α); 0 trains without mixing (soft-target cross entropy only).
        per_sample: one λ per example instead of one per batch.
        features_only: mix the embeddings but keep the label of the nearer example.
        label_smoothing: ε spread over all K classes (as ``F.cross_entropy``); 0: off.
        erl_kappa: κ of the confidence penalty CE − κ·H (Pereyra et al. 2017); 0: off.
        regmixup_eta: > 0 trains RegMixup (Pinto et al. 2022): the clean loss plus η × the mixup
            loss of a mixed copy (two forward passes per step; use a large α, e.g. 10).
        temperature_scaling: at the end of training fit T on the eval set and write
            ``calibration.json`` and ``reliability.png`` into ``args.output_dir``.
        *args, **kwargs: the Trainer's own arguments.
    """

    loss_is_scaled_for_ga = False  # our loss is a per-batch mean: the Trainer divides it for accumulation

    def __init__(
        self,
        *args,
        mixup_alpha: float = 0.4,
        per_sample: bool = False,
        features_only: bool = False,
        label_smoothing: float = 0.0,
        erl_kappa: float = 0.0,
        regmixup_eta: float = 0.0,
        temperature_scaling: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        for name, value, ok in (
            ("mixup_alpha", mixup_alpha, np.isfinite(mixup_alpha) and mixup_alpha >= 0),
            ("label_smoothing", label_smoothing, 0 <= label_smoothing <= 1),
            ("erl_kappa", erl_kappa, np.isfinite(erl_kappa) and erl_kappa >= 0),
            ("regmixup_eta", regmixup_eta, np.isfinite(regmixup_eta) and regmixup_eta >= 0),
        ):
            if not ok:
                raise ArgumentError(f"MixupTrainer {name}={value!r} is out of range")
        self.label_smoothing, self.erl_kappa, self.regmixup_eta = label_smoothing, erl_kappa, regmixup_eta
        self.mixer = None
        if mixup_alpha > 0:
            seed = self.args.seed * 100_003 + self.args.process_index  # each rank its own λ and pairing
            mode = "features_only" if features_only else "full"
            self.mixer = Mixup(mixup_alpha, per_sample, mode, generator=torch.Generator().manual_seed(seed))
        self._plan: MixupPlan | None = None
        embeddings = self.accelerator.unwrap_model(self.model).get_input_embeddings()
        embeddings.register_forward_hook(self._mix_embeddings)
        if temperature_scaling:
            self.add_callback(TemperatureScalingCallback(self))

    def _mix_embeddings(self, module, args, output):
        """Forward hook of the word-embedding module: (B, T, D) → mixed (B, T, D) while a plan is set."""
        return output if self._plan is None else self._plan.mix(output)

    def mixed_inputs(self, inputs: dict, plan: MixupPlan) -> dict:
        """The model's keyword arguments for a mixed batch: the union attention mask."""
        inputs = dict(inputs)
        if "attention_mask" in inputs:
            inputs["attention_mask"] = plan.mix_mask(inputs["attention_mask"])  # (B, T)
        return inputs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")  # (B,)
        num_classes = self.accelerator.unwrap_model(model).config.num_labels
        plan = self.mixer.plan(len(labels), labels.device) if self.mixer is not None else None
        regmixup = self.regmixup_eta > 0 and plan is not None
        outputs = self._forward(model, inputs, None if regmixup else plan)
        targets = (
            one_hot_targets(labels, num_classes) if plan is None or regmixup else plan.mix_targets(labels, num_classes)
        )
        loss = self._loss(outputs, targets)
        if regmixup:  # RegMixup: the clean loss above plus η × the mixed copy's
            mixed = self._forward(model, inputs, plan)
            loss = loss + self.regmixup_eta * soft_target_cross_entropy(
                _logits(mixed).float(), plan.mix_targets(labels, num_classes)
            )
        return (loss, outputs) if return_outputs else loss

    def _forward(self, model, inputs: dict, plan: MixupPlan | None):
        self._plan = plan
        try:
            return model(**(self.mixed_inputs(inputs, plan) if plan is not None else inputs))
        finally:
            self._plan = None

    def _loss(self, outputs, targets: torch.Tensor) -> torch.Tensor:
        logits = _logits(outputs).float()  # (B, K)
        if self.label_smoothing:
            targets = smooth_targets(targets, self.label_smoothing)
        if self.erl_kappa:
            return confidence_penalty_loss(logits, targets, self.erl_kappa)
        return soft_target_cross_entropy(logits, targets)


def _logits(outputs) -> torch.Tensor:
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


class TemperatureScalingCallback(TrainerCallback):
    """At the end of training: predict the eval set, fit temperature scaling on it (Guo et al.
    2017), write ``calibration.json`` (T and the metrics before and after) and ``reliability.png``
    into ``args.output_dir``, and store T in the model config (``textmix_temperature``), so that
    ``save_model`` keeps it.

    Args:
        trainer: the Trainer whose ``eval_dataset`` is used (its ``predict`` gathers every process).
    """

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def on_train_end(self, args, state, control, **kwargs):
        if self.trainer.eval_dataset is None:
            raise ArgumentError("temperature scaling needs an eval_dataset on the Trainer")
        out = self.trainer.predict(self.trainer.eval_dataset, metric_key_prefix="calibration")
        logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
        labels = np.asarray(out.label_ids)
        temperature = fit_temperature(logits, labels)
        model = self.trainer.accelerator.unwrap_model(self.trainer.model)
        model.config.textmix_temperature = temperature
        if state.is_world_process_zero:
            before, after = _softmax(logits), apply_temperature(logits, temperature)
            report = {
                "temperature": temperature,
                "eval": calibration_report(before, labels),
                "eval_temperature_scaled": calibration_report(after, labels),
            }
            folder = Path(args.output_dir)
            atomic_write_json(folder / CALIBRATION_FILE, report)
            save_figure(reliability_diagram(before, labels, title="eval"), folder / RELIABILITY_FILE)
        return control
