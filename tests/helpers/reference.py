"""Reference protocols written out sample by sample, to check the batched evaluators against."""

import open_clip
import torch
from PIL import Image

from tripletclip.evals import sugarcrepe


@torch.no_grad()
def sugarcrepe_per_sample(model_dir, bench) -> dict[str, float]:
    """SugarCrepe's main_eval.py on an exported model: one image at a time, its positive and negative caption encoded
    per sample, correct iff the positive scores strictly higher; accuracy (%) per category."""
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}")
    model.eval()
    accuracy = {}
    for category, samples in sugarcrepe.load(str(bench)).items():
        correct = 0
        for s in samples.values():
            img = model.encode_image(preprocess(Image.open(bench / "images" / s["filename"])).unsqueeze(0))
            txt = model.encode_text(tokenizer([s["caption"], s["negative_caption"]]))
            img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
            scores = (img @ txt.T)[0]
            correct += int(scores[0] > scores[1])
        accuracy[category] = 100 * correct / len(samples)
    return accuracy
