import math

import pytest
import torch

from tripletclip import losses


def ce(logits_row, target):
    return -logits_row[target] + math.log(sum(math.exp(v) for v in logits_row))


@pytest.fixture
def feats():
    g = torch.Generator().manual_seed(0)
    f = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
    return f(3, 4), f(3, 4), f(3, 4), f(3, 4)


def by_hand(query, keys, s):
    rows = (s * query @ keys.T).tolist()
    return sum(ce(r, i) for i, r in enumerate(rows)) / len(rows)


def test_clip_is_symmetric_infonce(feats):
    I, T, _, _ = feats
    out = losses.make_loss("clip")(I, T, None, None, 10.0)
    assert out["i2t"].item() == pytest.approx(by_hand(I, T, 10.0), abs=1e-5)
    assert out["t2i"].item() == pytest.approx(by_hand(T, I, 10.0), abs=1e-5)
    assert out["loss"].item() == pytest.approx((by_hand(I, T, 10.0) + by_hand(T, I, 10.0)) / 2, abs=1e-5)


def test_negclip_adds_negative_captions_to_image_to_text_only(feats):
    I, T, _, Tn = feats
    out = losses.make_loss("negclip")(I, T, None, Tn, 5.0)
    i2t = by_hand(I, torch.cat([T, Tn]), 5.0)
    assert out["i2t"].item() == pytest.approx(i2t, abs=1e-5)
    assert out["loss"].item() == pytest.approx((i2t + by_hand(T, I, 5.0)) / 2, abs=1e-5)
    # K negatives per caption: (B, K, D) is the same as stacking them
    k2 = torch.stack([Tn, T.flip(0)], 1)
    out2 = losses.make_loss("negclip")(I, T, None, k2, 5.0)
    assert out2["i2t"].item() == pytest.approx(by_hand(I, torch.cat([T, k2.reshape(-1, 4)]), 5.0), abs=1e-5)


def test_negimage_swaps_the_roles(feats):
    I, T, In, _ = feats
    out = losses.make_loss("negimage")(I, T, In, None, 5.0)
    assert out["t2i"].item() == pytest.approx(by_hand(T, torch.cat([I, In]), 5.0), abs=1e-5)
    assert out["i2t"].item() == pytest.approx(by_hand(I, T, 5.0), abs=1e-5)


def test_tripletclip_sums_the_real_and_the_synthetic_negclip(feats):
    I, T, In, Tn = feats
    out = losses.make_loss("tripletclip")(I, T, In, Tn, 7.0)
    real = (by_hand(I, torch.cat([T, Tn]), 7.0) + by_hand(T, I, 7.0)) / 2
    synthetic = (by_hand(In, torch.cat([Tn, T]), 7.0) + by_hand(Tn, In, 7.0)) / 2
    assert out["real"].item() == pytest.approx(real, abs=1e-5)
    assert out["synthetic"].item() == pytest.approx(synthetic, abs=1e-5)
    assert out["loss"].item() == pytest.approx(real + synthetic, abs=1e-5)


def test_losses_say_what_they_miss(feats):
    I, T, _, _ = feats
    with pytest.raises(ValueError, match="neg_text"):
        losses.make_loss("negclip")(I, T, None, None, 1.0)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.make_loss("nope")
