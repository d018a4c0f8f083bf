"""Run under torchrun: the loss of a fixed global batch of features, each rank holding its slice, and the gradient
of the loss with respect to every feature. Rank 0 saves {"loss", terms..., grad_*} gathered in rank order."""
import sys

import torch
import torch.distributed as dist

from tripletclip import losses, train

method, output = sys.argv[1], sys.argv[2]
rank, world, _ = train.setup_distributed()
g = torch.Generator().manual_seed(0)
B, K, D = 8, 2 if method in ("negclip", "ceclip") else 1, 6
unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
full = {"image": unit(B, D), "text": unit(B, D), "neg_image": unit(B, D), "neg_text": unit(B, K, D)}
if K == 1:
    full["neg_text"] = full["neg_text"][:, 0]
mask = torch.ones(B, K, dtype=torch.bool)
mask[3, 1 % K] = K == 1  # one masked-out negative where there are two
rows = slice(rank * B // world, (rank + 1) * B // world)
local = {k: v[rows].clone().requires_grad_() for k, v in full.items()}
options = {"num_negatives": K} if method == "ceclip" else {}
loss_fn = losses.make_loss(method, **options)
terms = None
for _ in range(2):  # twice, so that CE-CLIP's adaptive margin is used after one update
    terms = loss_fn(local["image"], local["text"], local["neg_image"], local["neg_text"], 10.0,
                    neg_mask=mask[rows] if method in ("negclip", "ceclip") else None)
# Each rank's own rows get the one-process gradient of the global loss; the trainer's x world_size only undoes the
# mean that DDP takes over ranks of the parameter gradients these feature gradients flow into.
terms["loss"].backward()
out = {k: v.detach() for k, v in terms.items()}
for k, v in local.items():
    grad = v.grad if v.grad is not None else torch.zeros_like(v)
    if world > 1:
        parts = [torch.empty_like(grad) for _ in range(world)]
        dist.all_gather(parts, grad.contiguous())
        grad = torch.cat(parts)
    out[f"grad_{k}"] = grad
if rank == 0:
    torch.save(out, output)
if world > 1:
    dist.destroy_process_group()
