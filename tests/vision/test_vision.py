"""vision/: datasets (shared CIFAR-10 JPEGs, MNIST 5k), models and mix points, the engine on images."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from textmix import engine
from textmix.core.errors import DataError, RecipeError
from textmix.core.mixer import Mixup, MixupPlan
from textmix.engine.recipe import load_recipe, recipe_from_dict
from vision import data as vdata
from vision.augment import random_crop_flip
from vision.models import VISION_MODELS, create_model
from vision.task import VisionTask, perturb

REPO = Path(__file__).resolve().parents[2]


def tiny_model(mix_point="input", **kw):
    return create_model("preact_resnet", 10, 3, width=4, blocks=(1, 1, 1, 1), mix_point=mix_point, **kw)


def test_input_mixup_in_the_model_is_torchvision_mixup():
    """The pixels the network sees equal v2.MixUp's output for the same λ and pairing."""
    images = torch.rand(6, 3, 32, 32)
    labels = torch.tensor([0, 3, 1, 2, 9, 0])
    torch.manual_seed(3)
    lam = float(torch.distributions.Beta(torch.tensor([1.0]), torch.tensor([1.0])).sample())
    torch.manual_seed(3)
    ref_images, ref_targets = v2.MixUp(alpha=1.0, num_classes=10)(images, labels)
    plan = MixupPlan(lam=torch.tensor(lam), perm=torch.arange(6).roll(1))  # torchvision pairs with roll(1)

    model = tiny_model(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)).eval()
    seen = {}
    model.stem.register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
    model(images, plan)
    torch.testing.assert_close(seen["x"] * model.std + model.mean, ref_images)
    torch.testing.assert_close(plan.mix_targets(labels, 10), ref_targets)


@pytest.mark.parametrize("site", [1, 2])
def test_manifold_mixup_mixes_the_drawn_stage(site):
    model = tiny_model("manifold").eval()
    assert model.mix_sites == 3
    x = torch.rand(4, 3, 32, 32)
    plan = MixupPlan(lam=torch.tensor(0.3), perm=torch.tensor([2, 0, 3, 1]), site=site)
    h = model.stem((x - model.mean) / model.std)
    for k, stage in enumerate(model.stages, start=1):
        h = stage(h)
        if k == site:
            h = 0.3 * h + 0.7 * h[plan.perm]
    expected = model.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))
    torch.testing.assert_close(model(x, plan), expected)
    assert not torch.allclose(model(x, None), expected)


def test_mixer_draws_sites_reproducibly_and_single_site_plans_are_unchanged():
    plans = [Mixup(1.0, sites=3, generator=torch.Generator().manual_seed(0)).plan(8) for _ in range(2)]
    assert plans[0].site == plans[1].site
    mixer = Mixup(1.0, sites=3, generator=torch.Generator().manual_seed(0))
    assert {mixer.plan(8).site for _ in range(60)} == {0, 1, 2}
    one = Mixup(1.0, generator=torch.Generator().manual_seed(5)).plan(8)
    again = Mixup(1.0, sites=1, generator=torch.Generator().manual_seed(5)).plan(8)
    assert one.site == 0 and torch.equal(one.perm, again.perm) and torch.equal(one.lam, again.lam)
    with pytest.raises(ValueError, match="sites must be an integer >= 1"):
        Mixup(1.0, sites=0)


@pytest.mark.parametrize("name", list(VISION_MODELS))
def test_every_model_maps_32x32_images_to_logits(name):
    kwargs = {"width": 4, "blocks": (1, 1)} if name == "preact_resnet" else {}
    model = create_model(name, 7, 3, dropout=0.1, mix_point="hidden:1", **kwargs).eval()
    plan = MixupPlan(lam=torch.tensor(0.5), perm=torch.tensor([1, 0]))
    assert model(torch.rand(2, 3, 32, 32), plan).shape == (2, 7)


def test_mix_point_errors_name_the_value():
    with pytest.raises(ValueError, match=r"hidden:9.*\[1, 4\]"):
        tiny_model("hidden:9")
    with pytest.raises(ValueError, match="'embeddings' is not a mix point of this model"):
        tiny_model("embeddings")


def test_perturbation_moves_each_image_exactly_mu():
    x = torch.rand(5, 3, 8, 8)
    moved = perturb({"pixels": x}, 3.0, torch.Generator().manual_seed(0))["pixels"]
    torch.testing.assert_close((moved - x).flatten(1).norm(dim=1), torch.full((5,), 3.0))


def test_random_crop_flip_returns_a_crop_or_its_mirror():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6) + 1
    out = random_crop_flip(x, padding=2)
    padded = torch.nn.functional.pad(x, (2,) * 4)
    for i in range(2):
        crops = [padded[i, :, t : t + 6, s : s + 6] for t in range(5) for s in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)


def test_image_folder_tree_and_match_images(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("TEXTMIX_CACHE", str(tmp_path / "cache"))
    for split, n in (("train", 3), ("test", 2)):
        for cls, value in (("cat", 10), ("dog", 200)):
            (tmp_path / "tree" / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8), (value, i, 0)).save(tmp_path / "tree" / split / cls / f"{i}.png")
    splits = vdata.load_image_dataset("imagefolder", str(tmp_path / "tree"))
    assert splits.classes == ["cat", "dog"]
    assert splits.train_images.shape == (6, 3, 8, 8) and splits.test_images.shape == (4, 3, 8, 8)
    assert splits.train_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(splits.train_images[3, 0, 0, 0]) == 200
    again = vdata.load_image_dataset("imagefolder", str(tmp_path / "tree"))  # from the cache
    for fresh, cached in ((splits.train_images, again.train_images), (splits.test_images, again.test_images)):
        assert torch.equal(fresh, cached)
        # the same layout too: decoded images once kept the JPEG's (H, W, C) memory order, so the
        # first run after a cache miss fed channels-last batches and its metrics moved ~1e-11
        assert fresh.is_contiguous() and fresh.stride() == cached.stride()
    grey = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    matched = vdata.match_images(grey, 3, (32, 32))
    assert matched.shape == (4, 3, 32, 32) and matched.dtype == torch.uint8
    assert torch.equal(matched[:, 0], matched[:, 2])


def _load_tree(root: str, results) -> None:
    try:
        results.put(vdata.load_image_dataset("imagefolder", root).train_images.shape[0])
    except Exception as error:  # reported to the parent, which fails the test with it
        results.put(repr(error))


def test_parallel_runs_fill_one_cache_without_clashing(tmp_path, monkeypatch):
    """Two processes decoding the same images into an empty cache both succeed (they once shared
    one temporary file: the second rename found it gone)."""
    import multiprocessing
    import os

    from PIL import Image

    from textmix.core import atomic_files as textmix_io

    monkeypatch.setenv("TEXTMIX_CACHE", str(tmp_path / "cache"))
    for split in ("train", "test"):
        (tmp_path / "tree" / split / "cat").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "tree" / split / "cat" / "0.png")
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    rename = os.replace

    def rename_when_both_have_written(src, dst):  # the interleaving that broke: write, write, rename, rename
        barrier.wait(timeout=60)
        rename(src, dst)

    monkeypatch.setattr(textmix_io.os, "replace", rename_when_both_have_written)
    workers = [context.Process(target=_load_tree, args=(str(tmp_path / "tree"), results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    assert outcomes == [1, 1]
    assert len(list((tmp_path / "cache" / "vision").glob("*.npz"))) == 1
    assert not list((tmp_path / "cache" / "vision").glob(".*"))  # no temporary file left behind


def test_dataset_errors_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_CACHE", str(tmp_path))
    monkeypatch.delenv("TEXTMIX_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="unknown image dataset data.name='svhn'"):
        vdata.load_image_dataset("svhn")
    with pytest.raises(DataError, match="imagefolder needs data.path"):
        vdata.load_image_dataset("imagefolder")
    with pytest.raises(DataError, match="does not exist"):
        vdata.load_image_dataset("cifar10", str(tmp_path / "nowhere"))

    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading: Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError, match=r"Offline\?.*TEXTMIX_DATA_DIR.*cifar10-jpg.tar.gz"):
        vdata.load_image_dataset("cifar10")


@pytest.mark.data("cifar10", "mnist5k")
def test_shared_cifar10_jpegs_and_mnist_digits(real_data):
    cifar = vdata.load_image_dataset("cifar10")
    assert cifar.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert cifar.train_images.shape == (50000, 3, 32, 32) and cifar.test_images.shape == (10000, 3, 32, 32)
    assert np.bincount(cifar.train_labels.numpy()).tolist() == [5000] * 10
    assert np.bincount(cifar.test_labels.numpy()).tolist() == [1000] * 10
    # SOURCE.md: mean decoded RGB of the train JPEGs is (125.27, 122.93, 113.86)
    mean = cifar.train_images.double().mean(dim=(0, 2, 3)).numpy()
    np.testing.assert_allclose(mean, [125.27, 122.93, 113.86], atol=0.01)
    mnist = vdata.load_image_dataset("mnist")
    assert mnist.train_images.shape == (4000, 1, 28, 28) and mnist.test_images.shape == (1000, 1, 28, 28)
    assert np.bincount(mnist.test_labels.numpy()).tolist() == [100] * 10


def test_vision_recipes_are_valid():
    paths = sorted((REPO / "recipes" / "vision").glob("*.yaml"))
    assert len(paths) >= 8
    for path in paths:
        recipe = load_recipe(path)  # validated by the vision task
        assert recipe.task == "vision" and isinstance(recipe.data.augment, bool)
        VisionTask().validate(recipe)


def vision_recipe(**sections):
    values = {
        "task": "vision",
        "method": "mixup",
        "data": {"name": "cifar10", "max_train_examples": 2000},
        "model": {"name": "preact_resnet", "dropout": 0.2, "options": {"width": 4, "blocks": [1, 1, 1, 1]}},
        "mixup": {"alpha": 1.0, "mix_point": "manifold"},
        "optim": {
            "name": "sgd",
            "lr": 0.1,
            "nesterov": True,
            "weight_decay": 5e-4,
            "schedule": "step",
            "milestones": [2],
        },
        "train": {"epochs": 3, "batch_size": 64, "eval_batch_size": 1000, "log_every": 5},
        "eval": {"mc_dropout_samples": 2, "ood": ["mnist", "gaussian_noise"], "perturbation": [1.0, 100.0]},
    }
    for key, value in sections.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe_from_dict(values)


@pytest.mark.data("cifar10", "mnist5k")
def test_engine_trains_and_evaluates_an_image_model(real_data, tmp_path):
    metrics = engine.train(vision_recipe(), tmp_path / "run")
    assert metrics["data"]["splits"] == {"train": 2000, "validation": 5000, "test": 10000}
    assert sum(metrics["data"]["train_label_counts"]) == 2000
    assert metrics["test"]["n"] == 10000 and metrics["test"]["accuracy"] > 0.15  # 10 classes: chance is 0.10
    assert set(metrics["ood"]) == {"mnist", "gaussian_noise"} and metrics["ood"]["mnist"]["n"] == 1000
    assert [row["mu"] for row in metrics["perturbation"]] == [1.0, 100.0]
    near, far = metrics["perturbation"]
    assert near["accuracy"] > far["accuracy"]  # μ = 100 is far outside the data
    with np.load(tmp_path / "run" / "scores.npz") as scores:
        assert scores["mnist/mc_dropout"].shape == (1000,)
    info = json.loads((tmp_path / "run" / "model" / "image_inputs.json").read_text())
    assert info == {"channels": 3, "size": [32, 32], "classes": info["classes"]}
    # the saved weights reload into the same architecture and give the run's test probabilities
    from safetensors.torch import load_model

    model = create_model("preact_resnet", 10, 3, width=4, blocks=(1, 1, 1, 1), dropout=0.2, mix_point="manifold")
    load_model(model, str(tmp_path / "run" / "model" / "model.safetensors"))
    test = vdata.load_image_dataset("cifar10")
    with torch.no_grad():
        probs = torch.softmax(model.eval()(test.test_images[:8].float() / 255), 1).numpy()
    np.testing.assert_allclose(probs, np.load(tmp_path / "run" / "predictions.npz")["test_probs"][:8], atol=1e-5)
    from textmix.engine.report import report

    aggregate = report([tmp_path / "run"], tmp_path / "report", figure_kinds=["ood", "perturbation"])
    assert aggregate["figures"] == ["ood_cifar10_preact_resnet.png", "perturbation_cifar10_preact_resnet.png"]
    table = (tmp_path / "report" / "README.md").read_text()
    assert f"| cifar10 / preact_resnet | mixup α=1, at manifold | 100 | {100 * far['accuracy']:.2f} | " in table
    mnist_auroc = 100 * metrics["ood"]["mnist"]["none"]["auroc"]
    assert f"| cifar10 / preact_resnet | mixup α=1, at manifold | mnist | {mnist_auroc:.2f} |" in table
    from textmix.core.errors import HubError
    from textmix.text.hub import prepare_upload

    with pytest.raises(HubError, match="is a vision run; Hub sharing and predict support text models"):
        prepare_upload(tmp_path / "run", "me/cifar", tmp_path / "upload")
    # `textmix evaluate` reloads the saved image model and reproduces the run's test metrics
    from textmix.engine.reevaluation import evaluate_run

    evaluation = evaluate_run(tmp_path / "run", ["eval.mc_dropout_samples=0", "eval.ood=[]", "eval.perturbation=[]"])
    assert evaluation["test"] == pytest.approx(metrics["test"], abs=1e-6)


@pytest.mark.data("cifar10")
def test_vision_recipe_errors(real_data, tmp_path):
    with pytest.raises(RecipeError, match="unknown image model model.name='kim_cnn'"):
        vision_recipe(model={"name": "kim_cnn"})  # refused when the recipe is loaded, before any data
    with pytest.raises(RecipeError, match="eval.ood entry 'trec' is unknown"):
        vision_recipe(eval={"ood": ["trec"]})
    with pytest.raises(RecipeError, match="mixup.mix_point='embeddings' is not a mix point of this model"):
        vision_recipe(mixup={"mix_point": "embeddings"})
    with pytest.raises(RecipeError, match="model 'preact_resnet' cannot be built with model.options"):
        engine.train(vision_recipe(model={"options": {"depth": 3}}), tmp_path / "c")
    with pytest.raises(RecipeError, match="hub.push=True does not apply to task=vision recipes"):
        vision_recipe(hub={"push": True, "repo_id": "me/x"})
    with pytest.raises(RecipeError, match="eval.perturbation needs continuous inputs; text inputs are tokens"):
        recipe_from_dict({"eval": {"perturbation": [1.0]}})


def test_batched_crop_flip_equals_cropping_image_by_image():
    """The reference: pad, slice each image at its offsets, mirror the flipped ones (the 0.2 code)."""
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    torch.manual_seed(5)
    out = random_crop_flip(x, padding=2)
    torch.manual_seed(5)
    padded = torch.nn.functional.pad(x, (2,) * 4)
    top, left = torch.randint(0, 5, (16,)).tolist(), torch.randint(0, 5, (16,)).tolist()
    expected = torch.stack([padded[i, :, t : t + 8, s : s + 8] for i, (t, s) in enumerate(zip(top, left))])
    flip = torch.rand(16) < 0.5
    expected[flip] = expected[flip].flip(-1)
    assert torch.equal(out, expected)


def test_crop_offsets_are_uniform_and_flips_fair():
    from vision.augment import draw_crop_flip

    torch.manual_seed(0)
    top, left, flip = draw_crop_flip(90_000, padding=4)
    for offsets in (top, left):
        counts = torch.bincount(offsets, minlength=9).double()
        assert counts.numel() == 9  # offsets 0..8
        chi2 = float(((counts - 10_000) ** 2 / 10_000).sum())
        assert chi2 < 26.1  # χ²(8) 99.9% quantile
    assert abs(flip.double().mean().item() - 0.5) < 4 * 0.5 / 300  # 4σ


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
)
def test_device_resident_batches_are_the_host_batches(device):
    """Same seed → the same crops and flips (offsets are drawn on the host) wherever the images live."""
    from vision.task import ImageSet, collate_images

    images = torch.randint(0, 256, (10, 3, 6, 6), dtype=torch.uint8)
    labels = torch.arange(10)
    batches = []
    for where in ("cpu", device):
        data = ImageSet(images, labels, torch.device(where))
        torch.manual_seed(1)
        batches.append([collate_images(data.__getitems__(rows), augment=True) for rows in ([3, 1, 4], [0, 9, 2, 6])])
    for host, there in zip(*batches):
        assert there["pixels"].device.type == device
        # the same pixels: a GPU divides by 255 as a multiplication by 1/255 (last-bit rounding)
        assert torch.equal((there["pixels"].cpu() * 255).round(), (host["pixels"] * 255).round())
        torch.testing.assert_close(there["pixels"].cpu(), host["pixels"], rtol=0, atol=1e-7)
        assert torch.equal(there["labels"].cpu(), host["labels"])
        assert torch.equal(there["index"].cpu(), host["index"])
