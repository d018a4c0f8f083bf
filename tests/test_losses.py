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


def test_negclip_leaves_out_a_masked_negative(feats):
    I, T, In, Tn = feats
    k2 = torch.stack([Tn, In], 1)  # (3, 2, 4): any unit vectors serve as negative captions
    mask = torch.tensor([[True, True], [True, False], [True, True]])
    out = losses.make_loss("negclip")(I, T, None, k2, 5.0, neg_mask=mask)
    kept = torch.cat([T, Tn[0:1], In[0:1], Tn[1:2], Tn[2:3], In[2:3]])  # sample 1's second negative is gone
    assert out["i2t"].item() == pytest.approx(by_hand(I, kept, 5.0), abs=1e-5)


def ceclip_by_hand(I, T, negs, valid, s, tau, imc_weight=0.3, cmr_weight=0.2):
    """CE-CLIP's terms with explicit loops over samples i and negative slots k."""
    B, K = len(negs), len(negs[0])
    dot = lambda a, b: s * float(a @ b)
    valid_negs = [negs[j][k] for j in range(B) for k in range(K) if valid[j][k]]
    i2t = sum(ce([dot(I[i], t) for t in list(T) + valid_negs], i) for i in range(B)) / B
    t2i = sum(ce([dot(T[i], x) for x in I], i) for i in range(B)) / B
    imc = sum(ce([dot(I[i], T[i])] + [dot(T[i], n) for n in valid_negs], 0) for i in range(B)) / B
    hinges = [max(0.0, tau[k] + dot(I[i], negs[i][k]) - dot(I[i], T[i]))
              for i in range(B) for k in range(K) if valid[i][k]]
    cmr = sum(hinges) / len(hinges)
    new_tau = []
    for k in range(K):
        pos = sum(dot(I[i], T[i]) for i in range(B)) / B
        neg = [dot(I[i], negs[i][k]) for i in range(B) if valid[i][k]]
        new_tau.append(min(10.0, max(0.0, pos - sum(neg) / len(neg))))
    itc = (i2t + t2i) / 2
    return {"loss": itc + imc_weight * imc + cmr_weight * cmr, "itc": itc, "imc": imc, "cmr": cmr}, new_tau


def test_ceclip_matches_its_formula_with_k_negatives_a_mask_and_the_adaptive_margin():
    g = torch.Generator().manual_seed(1)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
    I, T, negs = unit(4, 5), unit(4, 5), unit(4, 3, 5)
    # make the negatives close to their captions, so the margin is positive and CMR's hinge is active
    negs = torch.nn.functional.normalize(negs + 1.5 * T[:, None], dim=-1)
    valid = torch.tensor([[True, True, False], [True, True, True], [True, False, True], [True, True, True]])
    loss = losses.make_loss("ceclip", num_negatives=3)
    assert loss.tau.tolist() == [0.0, 0.0, 0.0]
    expected_tau = [0.0, 0.0, 0.0]
    for step in range(3):  # tau is updated after each step and used at the next
        out = loss(I, T, None, negs, 8.0, neg_mask=valid)
        want, expected_tau = ceclip_by_hand(I, T, negs, valid.tolist(), 8.0, expected_tau)
        for term in ("loss", "itc", "imc", "cmr"):
            assert out[term].item() == pytest.approx(want[term], abs=1e-4), (step, term)
        assert loss.tau.tolist() == pytest.approx(expected_tau, abs=1e-5)
        I = torch.nn.functional.normalize(I + 0.3 * T, dim=-1)  # the model "learns": the margin moves
    assert max(expected_tau) > 0
    # tau is state: saved and restored with the loss
    fresh = losses.make_loss("ceclip", num_negatives=3)
    fresh.load_state_dict(loss.state_dict())
    assert fresh.tau.tolist() == loss.tau.tolist()
    # in eval mode the margin stays put
    loss.eval()
    before = loss.tau.clone()
    loss(I, T, None, negs, 8.0, neg_mask=valid)
    assert torch.equal(loss.tau, before)


def test_ceclip_weights_and_fixed_threshold_come_from_options(feats):
    I, T, _, Tn = feats
    loss = losses.make_loss("ceclip", imc_weight=1.0, cmr_weight=0.0, threshold=0.5)
    out = loss(I, T, None, Tn, 5.0)
    assert out["loss"].item() == pytest.approx((out["itc"] + out["imc"]).item(), abs=1e-6)
    assert loss.tau.tolist() == [0.5]
    with pytest.raises(ValueError, match="threshold"):
        losses.make_loss("ceclip", threshold="median")


def test_tripletclip_rejects_k_negatives(feats):
    I, T, In, Tn = feats
    with pytest.raises(ValueError, match="K=2"):
        losses.make_loss("tripletclip")(I, T, In, torch.stack([Tn, Tn], 1), 1.0)
