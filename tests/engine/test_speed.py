"""The fast paths change no arithmetic: fused optimizers on a GPU only, compiled = eager,
queued host-to-device copies, device-resident data settings."""

import pytest
import torch

import textmix.engine as engine
from textmix.core.errors import RecipeError
from textmix.core.mixer import Mixup
from textmix.core.transfer import to_device
from textmix.engine import optimizers
from textmix.engine.recipe import recipe_from_dict
from textmix.text.models import KimCNN

CUDA = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("name", ["adadelta", "adamw", "sgd"])
def test_gpu_steps_are_fused_or_foreach_and_cpu_steps_are_pytorchs_default(name):
    recipe = recipe_from_dict({"optim": {"name": name}})
    model = torch.nn.Linear(3, 2)
    cpu = optimizers.make_optimizer(recipe.optim, model, torch.device("cpu")).defaults
    assert cpu.get("fused") is None and cpu.get("foreach") is None  # CPU runs keep their numbers
    gpu = optimizers.make_optimizer(recipe.optim, model, torch.device("cuda")).defaults  # built, not stepped
    assert (gpu.get("foreach") if name == "adadelta" else gpu.get("fused")) is True


@pytest.mark.parametrize("device", ["cpu", *CUDA])
def test_to_device_copies_values_and_keeps_host_tensors_on_the_host(device):
    x = torch.tensor([0.25, 3.0])
    moved = to_device(x, device)
    assert moved.device.type == device
    torch.testing.assert_close(moved.cpu(), x)
    assert to_device(x, None) is x


@pytest.mark.parametrize("device", ["cpu", *CUDA])
def test_mixup_plans_are_the_same_draws_on_every_device(device):
    host = Mixup(0.4, generator=torch.Generator().manual_seed(3)).plan(6)
    there = Mixup(0.4, generator=torch.Generator().manual_seed(3)).plan(6, device)
    assert there.lam.device.type == there.perm.device.type == device
    torch.testing.assert_close(there.lam.cpu(), host.lam)
    assert torch.equal(there.perm.cpu(), host.perm)


def test_compiled_kim_cnn_gives_the_eager_loss_and_gradients():
    torch.manual_seed(0)
    eager = KimCNN(vocab_size=40, num_classes=3, embed_dim=8, num_filters=4).eval()
    compiled = torch.compile(eager)
    plan = Mixup(1.0, generator=torch.Generator().manual_seed(0)).plan(5)
    for length in (9, 16):  # a second length: the compiled graph must follow
        ids = torch.randint(2, 40, (5, length))
        mask = torch.ones(5, length, dtype=torch.long)
        mask[0, 5:] = 0
        targets = plan.mix_targets(torch.tensor([0, 1, 2, 1, 0]), 3)
        losses, grads = [], []
        for model in (eager, compiled):
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask, plan=plan), targets)
            (grad,) = torch.autograd.grad(loss, eager.classifier.weight)
            losses.append(loss)
            grads.append(grad)
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_train_compile_trains_to_the_eager_losses(real_data, tmp_path):
    values = {
        "method": "mixup",
        "data": {"name": "mr", "max_train_examples": 100, "vectors": "none"},
        "model": {"num_filters": 4, "embed_dim": 16, "variant": "rand", "dropout": 0.0},
        "train": {"epochs": 1, "batch_size": 25, "eval_batch_size": 500},
        "eval": {"bootstrap_resamples": 0, "temperature_scaling": False},
    }
    eager = engine.train(recipe_from_dict(values), tmp_path / "eager")
    values["train"]["compile"] = True
    compiled = engine.train(recipe_from_dict(values), tmp_path / "compiled")
    assert compiled["history"][0]["train_loss"] == pytest.approx(eager["history"][0]["train_loss"], rel=1e-4)
    assert compiled["test"]["accuracy"] == pytest.approx(eager["test"]["accuracy"], abs=2 / 1066)


@pytest.mark.parametrize("task", ["text", "vision"])
@pytest.mark.parametrize("value, ok", [(True, True), (False, True), ("auto", True), ("yes", False), (2, False)])
def test_device_resident_takes_true_false_or_auto(task, value, ok):
    values = {"task": task, "data": {"device_resident": value}}
    if ok:
        assert recipe_from_dict(values).data.device_resident == value
    else:
        with pytest.raises(RecipeError, match="data.device_resident"):
            recipe_from_dict(values)


def test_data_goes_to_the_gpu_when_it_takes_at_most_a_quarter_of_its_free_memory(monkeypatch):
    import textmix.engine.tasks as placement

    class OnGpu:  # the accelerator's device, as accelerate reports it on a GPU machine
        device = torch.device("cuda", 0)

    monkeypatch.setattr(placement, "PartialState", OnGpu)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (8_000, 10_000))  # (free, total) bytes
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert placement.data_device("auto", 2_000) == gpu
    assert placement.data_device("auto", 2_001) == cpu  # more than a quarter of the free 8,000
    assert placement.data_device(True, 10**12) == gpu  # forced, whatever the size
    assert placement.data_device(False, 1) == cpu


def test_a_cpu_only_machine_keeps_data_in_host_memory_whatever_the_setting():
    from textmix.engine.tasks import data_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert {data_device(setting, 1).type for setting in (True, False, "auto")} == {"cpu"}
