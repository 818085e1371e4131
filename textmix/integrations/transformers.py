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
batch gets a :class:`textmix.core.mixer.MixupPlan`: λ ~ Beta(α, α) and a pairing permutation; the
attention mask becomes the union of the pair's masks and the loss is the soft-target cross
entropy against the mixed labels (with label smoothing or the ERL confidence penalty if asked).
Evaluation batches are not mixed.

Methods that learn while they train get the engine's hooks: the training set's row numbers (an
``index`` column, added when missing), the eval set's predictions after each epoch (``camixup``),
and their state saved in each checkpoint folder (``textmix_method.safetensors``, with the mixer's
random state) and restored by ``train(resume_from_checkpoint=...)``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import Trainer, TrainerCallback

from textmix.core.assessment import Scores, assess
from textmix.core.atomic_files import atomic_write_json
from textmix.core.calibrators import Calibrator, TemperatureScaling, make_calibrator, uncalibrated_probs
from textmix.core.errors import ArgumentError
from textmix.core.methods import Method, StepBatch, get_method, head_features, method_params
from textmix.core.metric_table import shown_metrics
from textmix.core.metrics import calibration_report
from textmix.core.mixer import MixupPlan
from textmix.core.plots import reliability_diagram, save_figure
from textmix.core.prediction_report import CALIBRATION_FILE, RELIABILITY_FILE
from textmix.text.hf_loading import refuse_custom_code

logger = logging.getLogger(__name__)

# keyword arguments of textmix 0.2 that chose a method, in the order they were checked
LEGACY_METHOD_FLAGS = (("regmixup_eta", "regmixup"), ("erl_kappa", "erl"), ("label_smoothing", "label_smoothing"))


def calibration_metrics(eval_pred) -> dict[str, float]:
    """``compute_metrics`` for a Trainer: the metrics textmix's tables show
    (:func:`textmix.core.metric_table.shown_metrics`: accuracy, ECE, OE, MCE with 15 bins, NLL,
    Brier, and any registered one) of the softmax of the logits."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    logits = logits[0] if isinstance(logits, tuple) else logits
    report = calibration_report(uncalibrated_probs(logits), np.asarray(labels))
    return {m.name: report[m.name] for m in shown_metrics()}


def choose_method(method: str | Method | None, mixup_alpha: float, features_only: bool, values: dict) -> Method:
    """The method object for MixupTrainer's arguments.

    ``method`` names a registered method (or is one); its ``loss.*`` settings come from ``values``.
    Without ``method``, the flags of textmix 0.2 choose it: ``regmixup_eta``, ``erl_kappa`` or
    ``label_smoothing`` > 0 (one of them), else ``features_only``, else mixup when α > 0 and the
    baseline when α = 0.
    """
    if isinstance(method, Method):
        if values:
            raise ArgumentError(
                f"MixupTrainer got a built method and settings {sorted(values)}; set them on the method"
            )
        return method
    if method is None:
        chosen = [name for flag, name in LEGACY_METHOD_FLAGS if values.get(flag)]
        if len(chosen) > 1:
            raise ArgumentError(f"MixupTrainer settings {chosen} are separate methods; pick one with method=")
        method = chosen[0] if chosen else "mixup_features_only" if features_only else "mixup"
    elif features_only:
        raise ArgumentError("features_only=True is method='mixup_features_only'; give one of them")
    cls = get_method(method)
    if cls.mixing is not None and mixup_alpha == 0:
        cls = get_method("baseline")  # α = 0 never mixes
    foreign = sorted(k for k, v in values.items() if k not in cls.params and v)
    if foreign:
        raise ArgumentError(f"method {cls.name} does not use {foreign}; it reads {sorted(cls.params) or 'no settings'}")
    return cls(**{k: v for k, v in values.items() if k in cls.params})


class MixupTrainer(Trainer):
    """A ``transformers.Trainer`` that trains any sequence classifier with a textmix training method
    (mixup at the word embeddings by default): the same method objects as ``textmix train``.

    Args:
        method: a registered method's name (baseline, mixup, mixup_features_only, regmixup,
            label_smoothing, erl, or yours) or a built :class:`textmix.core.methods.Method`;
            None: chosen by the settings below as in textmix 0.2 (see :func:`choose_method`).
        mixup_alpha: λ ~ Beta(α, α) of methods that mix; 0 trains without mixing.
        per_sample: one λ per example instead of one per batch.
        features_only: textmix 0.2's name for method ``mixup_features_only``.
        calibrator: at the end of training fit this calibrator (a registered name or an unfitted
            :class:`textmix.core.calibrators.Calibrator`) on the eval set and save it (see
            :class:`CalibrationCallback`); None: none.
        temperature_scaling: textmix 0.2's ``calibrator="temperature"``.
        **kwargs: the method's ``loss.*`` settings (e.g. ``label_smoothing=0.1``, ``erl_kappa``,
            ``regmixup_eta``) and the Trainer's own arguments.
    """

    loss_is_scaled_for_ga = False  # our loss is a per-batch mean: the Trainer divides it for accumulation

    def __init__(
        self,
        *args,
        method: str | Method | None = None,
        mixup_alpha: float = 0.4,
        per_sample: bool = False,
        features_only: bool = False,
        calibrator: str | Calibrator | None = None,
        temperature_scaling: bool = False,
        **kwargs,
    ):
        values = {key: kwargs.pop(key) for key in list(kwargs) if key in method_params()}
        super().__init__(*args, **kwargs)
        if not (np.isfinite(mixup_alpha) and mixup_alpha >= 0):
            raise ArgumentError(f"MixupTrainer mixup_alpha={mixup_alpha!r} is out of range: must be >= 0")
        self.method = choose_method(method, mixup_alpha, features_only, values)
        seed = self.args.seed * 100_003 + self.args.process_index  # each rank its own λ and pairing
        self.mixer = self.method.make_mixer(mixup_alpha, per_sample, 1, seed)
        self._prepare_method()
        self._name_labels()
        self._plan: MixupPlan | None = None
        embeddings = self.accelerator.unwrap_model(self.model).get_input_embeddings()
        embeddings.register_forward_hook(self._mix_embeddings)
        if temperature_scaling and calibrator is None:
            calibrator = "temperature"
        if calibrator is not None:
            self.add_callback(CalibrationCallback(self, calibrator))

    def _prepare_method(self) -> None:
        """Give the method its state's size, row numbers and epoch hooks."""
        needs = self.method.needs
        if "validation" in needs and self.eval_dataset is None:
            raise ArgumentError(f"method {self.method.name} reads the eval set after each epoch: give eval_dataset")
        if (
            "index" in needs or self.method.state_dict.__func__ is not Method.state_dict
        ) and self.train_dataset is None:
            raise ArgumentError(f"method {self.method.name} keeps per-example state: give train_dataset")
        if "index" in needs and "index" not in getattr(self.train_dataset, "column_names", ()):
            if not hasattr(self.train_dataset, "add_column"):
                raise ArgumentError(f"method {self.method.name} needs a datasets.Dataset with an 'index' column")
            self.train_dataset = self.train_dataset.add_column("index", list(range(len(self.train_dataset))))
        num_labels = self.accelerator.unwrap_model(self.model).config.num_labels
        self.method.prepare(len(self.train_dataset) if self.train_dataset is not None else 0, num_labels)
        self.add_callback(_MethodHooks(self))

    def _name_labels(self) -> None:
        """``id2label`` / ``label2id`` from the training set's class names (a ``ClassLabel`` column),
        where the model still has the placeholders LABEL_0, ...: ``pipeline()`` and
        ``textmix.load_model`` then name the classes."""
        config = self.accelerator.unwrap_model(self.model).config
        features = getattr(self.train_dataset, "features", None) or {}
        column = next((features[c] for c in ("label", "labels") if c in features), None)
        names = getattr(column, "names", None)
        placeholders = [f"LABEL_{i}" for i in range(config.num_labels)]
        if not names or len(names) != config.num_labels:
            return
        current = [config.id2label[i] for i in range(len(names))]
        if current == placeholders:
            config.id2label = dict(enumerate(names))
            config.label2id = {name: i for i, name in enumerate(names)}
        elif current != list(names):  # kept, but said: one of the two names the classes wrongly
            logger.warning("the model's id2label %s differs from the training set's class names %s; the saved "
                           "model keeps id2label: check which order is right", current, list(names))  # fmt: skip

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if "index" in self.method.needs and "index" not in self._signature_columns:
            self._signature_columns.append("index")  # row numbers reach compute_loss

    def method_state(self) -> dict[str, torch.Tensor]:
        """The method's state and the mixer's random state, for a checkpoint."""
        state = {f"method.{k}": v.detach().cpu().contiguous() for k, v in self.method.state_dict().items()}
        if self.mixer is not None:
            state["mixer.generator"] = self.mixer.generator.get_state()
        return state

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        refuse_custom_code(Path(resume_from_checkpoint))
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = Path(resume_from_checkpoint) / METHOD_FILE
        if path.is_file():
            state = load_file(str(path))
            try:
                self.method.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("method.")})
            except ValueError as error:
                raise ArgumentError(f"{path} does not fit this run: {error}") from None
            if self.mixer is not None and "mixer.generator" in state:
                self.mixer.generator.set_state(state["mixer.generator"])

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
        index = inputs.pop("index", None)
        unwrapped = self.accelerator.unwrap_model(model)
        num_classes = unwrapped.config.num_labels
        plan = self.mixer.plan(len(labels), labels.device) if self.mixer is not None else None
        outputs = []

        def forward(plan: MixupPlan | None) -> torch.Tensor:
            outputs.append(self._forward(model, inputs, plan))
            return _logits(outputs[-1]).float()  # (B, K)

        features = None
        if "features" in self.method.needs:
            features = lambda: head_features(unwrapped, lambda: unwrapped(**inputs))  # noqa: E731
        batch = StepBatch(forward, labels, num_classes, plan, index, self.mixer, features)
        loss = self.method.step_loss(batch)
        return (loss, outputs[0]) if return_outputs else loss

    def _forward(self, model, inputs: dict, plan: MixupPlan | None):
        self._plan = plan
        try:
            return model(**(self.mixed_inputs(inputs, plan) if plan is not None else inputs))
        finally:
            self._plan = None


METHOD_FILE = "textmix_method.safetensors"  # in each checkpoint folder


class _MethodHooks(TrainerCallback):
    """The method's epoch hooks and checkpointed state inside ``Trainer.train``."""

    def __init__(self, trainer: MixupTrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.trainer.method.start_epoch(int(round(state.epoch or 0)))

    def on_epoch_end(self, args, state, control, **kwargs):
        trainer = self.trainer
        self._synchronize()
        if "validation" in trainer.method.needs:
            out = trainer.predict(trainer.eval_dataset, metric_key_prefix="method")
            logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
            trainer.method.after_validation(uncalibrated_probs(logits), np.asarray(out.label_ids))
        return control

    def on_save(self, args, state, control, **kwargs):
        self._synchronize()
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            save_file(self.trainer.method_state(), str(folder / METHOD_FILE))
        return control

    def _synchronize(self):
        accelerator = self.trainer.accelerator
        self.trainer.method.synchronize(lambda t: accelerator.reduce(t.to(accelerator.device), "sum").cpu())


def _logits(outputs) -> torch.Tensor:
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


class CalibrationCallback(TrainerCallback):
    """At the end of training: predict the eval set, fit the calibrator on it, write
    ``calibration.json`` (the :class:`~textmix.core.assessment.Assessment` of the eval set: the
    calibrator, the metrics before and after, cross-fitted validation metrics) and ``reliability.png``
    into ``args.output_dir``, and store the calibrator in the model config
    (``textmix_calibrator``; for temperature scaling also ``textmix_temperature``), so that
    ``save_model`` keeps it.

    Args:
        trainer: the Trainer whose ``eval_dataset`` is used (its ``predict`` gathers every process).
        calibrator: a registered calibrator's name or an unfitted Calibrator.
    """

    def __init__(self, trainer: Trainer, calibrator: str | Calibrator = "temperature"):
        self.trainer = trainer
        self.calibrator = make_calibrator(calibrator) if isinstance(calibrator, str) else calibrator

    def on_train_end(self, args, state, control, **kwargs):
        if self.trainer.eval_dataset is None:
            raise ArgumentError("calibration needs an eval_dataset on the Trainer")
        out = self.trainer.predict(self.trainer.eval_dataset, metric_key_prefix="calibration")
        logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
        scores = Scores.of_logits(logits, np.asarray(out.label_ids))
        # the eval set is both where the calibrator is fitted and what is measured (in-sample: the
        # cross-fitted validation metrics are the honest ones); the same assessment as a run's
        assessment = assess(scores, scores, calibrators=[self.calibrator], bootstrap=0)
        self.calibrator = assessment.calibrators[self.calibrator.name]
        model = self.trainer.accelerator.unwrap_model(self.trainer.model)
        model.config.textmix_calibrator = self.calibrator.to_json()
        if isinstance(self.calibrator, TemperatureScaling):  # the key of textmix 0.2
            model.config.textmix_temperature = self.calibrator.temperature
        if state.is_world_process_zero:
            folder = Path(args.output_dir)
            atomic_write_json(folder / CALIBRATION_FILE, assessment.to_json())
            save_figure(reliability_diagram(scores.probs, scores.labels, title="eval"), folder / RELIABILITY_FILE)
        return control


TemperatureScalingCallback = CalibrationCallback  # the name of textmix 0.2

__all__ = ["MixupTrainer", "CalibrationCallback", "TemperatureScalingCallback", "calibration_metrics"]
