"""Kim CNN and transformer classifiers: mixing reaches the network, padding, saving."""

import pytest
import torch
from transformers import BertConfig

from textmix.core.mixer import MixupPlan
from textmix.text.models import KimCNN, TransformerClassifier


def tiny_cnn(variant="non-static", **kw):
    torch.manual_seed(0)
    return KimCNN(vocab_size=30, num_classes=3, embed_dim=8, variant=variant, num_filters=4, **kw).eval()


def batch():
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 0], [11, 12, 13, 0, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9]])
    return ids, (ids != 0).long()


@pytest.mark.parametrize("variant", ["rand", "static", "non-static", "multichannel"])
def test_kim_cnn_mixing_reaches_the_network(variant):
    model = tiny_cnn(variant)
    ids, mask = batch()
    plan = MixupPlan(lam=torch.tensor(0.3), perm=torch.tensor([1, 2, 0]))
    emb = model.embed(ids)
    by_hand = model(inputs_embeds=0.3 * emb + 0.7 * emb[[1, 2, 0]], attention_mask=mask | mask[[1, 2, 0]])
    torch.testing.assert_close(model(ids, mask, plan=plan), by_hand)
    assert not torch.allclose(model(ids, mask), by_hand)


def test_kim_cnn_ignores_extra_padding():
    model = tiny_cnn()
    ids, mask = batch()
    wide = torch.nn.functional.pad(ids, (0, 20))
    torch.testing.assert_close(model(ids, mask), model(wide, (wide != 0).long()))
    with pytest.raises(ValueError, match="shorter than the widest filter 5"):
        model(ids[:, :4], mask[:, :4])


def test_kim_cnn_variants_freeze_the_right_tables():
    static, multi = tiny_cnn("static"), tiny_cnn("multichannel")
    assert not static.embedding.weight.requires_grad
    assert multi.embedding.weight.requires_grad and not multi.static_embedding.weight.requires_grad
    assert multi.embed(batch()[0]).shape == (3, 7, 16)
    with pytest.raises(ValueError, match="variant must be one of"):
        KimCNN(10, 2, variant="dynamic")


def test_max_norm_rescales_output_rows():
    model = tiny_cnn(max_norm=3.0)
    with torch.no_grad():
        model.classifier.weight.mul_(100)
        model.classifier.weight[0] = 0.01
    small = model.classifier.weight[0].clone()
    model.after_optimizer_step()
    norms = model.classifier.weight.norm(dim=1)
    assert torch.all(norms <= 3.0 + 1e-5) and torch.allclose(norms[1:], torch.tensor(3.0))
    torch.testing.assert_close(model.classifier.weight[0], small)  # below the bound: untouched


def test_kim_cnn_save_and_load(tmp_path):
    model = tiny_cnn("multichannel")
    model.save_pretrained(tmp_path)
    loaded = KimCNN.from_pretrained(tmp_path).eval()
    ids, mask = batch()
    torch.testing.assert_close(loaded(ids, mask), model(ids, mask))
    assert KimCNN(vocab_size=5, num_classes=2, embed_dim=4).classifier.out_features == 2


def tiny_bert(mix_point="embeddings", pooling="mean"):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return TransformerClassifier(3, config.to_dict(), pooling=pooling, mix_point=mix_point).eval()


def test_transformer_embedding_mixing_equals_inputs_embeds_by_hand():
    model = tiny_bert()
    ids, mask = batch()
    perm = torch.tensor([2, 0, 1])
    plan = MixupPlan(lam=torch.tensor(0.3), perm=perm)
    emb = model.backbone.get_input_embeddings()(ids)
    union = mask | mask[perm]
    out = model.backbone(inputs_embeds=0.3 * emb + 0.7 * emb[perm], attention_mask=union).last_hidden_state
    pooled = (out * union[..., None]).sum(1) / union.sum(1, keepdim=True)
    torch.testing.assert_close(model(ids, mask, plan=plan), model.classifier(pooled))
    # without a plan, inputs_embeds and input_ids agree
    torch.testing.assert_close(model(inputs_embeds=emb, attention_mask=mask), model(ids, mask))


def test_transformer_pooled_and_hidden_mixing():
    ids, mask = batch()
    perm = torch.tensor([1, 2, 0])
    plan = MixupPlan(lam=torch.tensor(0.3), perm=perm)
    pooled_model = tiny_bert("pooled", pooling="cls")
    hidden = pooled_model.backbone(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
    torch.testing.assert_close(
        pooled_model(ids, mask, plan=plan), pooled_model.classifier(0.3 * hidden + 0.7 * hidden[perm])
    )
    hidden_model = tiny_bert("hidden:0")
    mixed = hidden_model(ids, mask, plan=plan)
    assert mixed.shape == (3, 3) and not torch.allclose(mixed, hidden_model(ids, mask))
    layer = hidden_model._encoder_layers()[0]
    assert not layer._forward_hooks  # the hook lives only during the call
    with pytest.raises(ValueError, match="hidden mix layer must be in"):
        tiny_bert("hidden:5")
    with pytest.raises(ValueError, match="is not a mix point of this model; use embeddings, pooled, hidden:K"):
        tiny_bert("middle")


def test_transformer_save_and_load(tmp_path):
    model = tiny_bert()
    model.save_pretrained(tmp_path)
    loaded = TransformerClassifier.from_pretrained(tmp_path).eval()
    ids, mask = batch()
    torch.testing.assert_close(loaded(ids, mask), model(ids, mask))


def test_minilm_checkpoint_loads_offline():
    model = TransformerClassifier.from_backbone("minilm", num_classes=2)
    assert model.backbone.config.num_hidden_layers == 6 and model.backbone.config.hidden_size == 384
