"""tripletclip.torchscript: the weights of TorchScript archives (open_clip jit=True saves, traced models as OpenAI's
original files are), read without running the file, against torch.jit.load of our own files; and a malicious archive
refused with nothing executed."""

import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from tripletclip import models
from tripletclip.torchscript import is_torchscript, read_torchscript

TINY = "ViT-Tiny-P16-64"

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated"),
              pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore:.*looks like a TorchScript archive")]


def bits(tensor):
    return tensor.reshape(-1).contiguous().view(torch.uint8)


def assert_same_as_jit_load(path):
    """read_torchscript gives the keys (in order) and bit-identical tensors of torch.jit.load(path).state_dict()."""
    ours = read_torchscript(path)
    theirs = torch.jit.load(str(path), map_location="cpu").state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert (ours[key].dtype, ours[key].shape, ours[key].stride()) == (value.dtype, value.shape, value.stride())
        assert torch.equal(bits(ours[key]), bits(value)), key
        assert not ours[key].requires_grad
    return ours


def test_an_open_clip_jit_model(tmp_path):
    torch.manual_seed(0)
    model = models.open_clip_with_our_configs().create_model(TINY, jit=True)
    path = tmp_path / "tiny-jit.pt"
    torch.jit.save(model, str(path))
    assert is_torchscript(path)
    ours = assert_same_as_jit_load(path)
    eager = models.open_clip_with_our_configs().create_model(TINY).state_dict()
    # TorchScript keeps no persistent=False: the text tower's causal mask comes out, as from torch.jit.load
    assert set(ours) == set(eager) | {"attn_mask"}
    assert ours["visual.conv1.weight"].dtype == torch.float32

    state_dict = tmp_path / "state_dict.pt"
    torch.save(eager, state_dict)
    safetensors = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in eager.items() if k != "attn_mask"}, str(safetensors))
    assert not is_torchscript(state_dict)
    assert not is_torchscript(safetensors)
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        read_torchscript(state_dict)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.register_buffer("scale", torch.tensor([0.5, 1.0, 2.0, 4.0]))
        self.register_buffer("cache", torch.arange(6.0).reshape(2, 3).t(), persistent=False)  # a strided view
        self.mask = torch.ones(4)  # a plain tensor attribute: no parameter, no buffer

    def forward(self, x):
        return self.norm(self.proj(x)) * self.scale * self.mask + self.cache.sum()


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 2, bias=False), torch.nn.GELU())
        self.logit_scale = torch.nn.Parameter(torch.tensor(2.5))
        self.register_buffer("steps", torch.tensor([3, 1, 2], dtype=torch.int64))
        self.register_buffer("fp16", torch.randn(3).half())

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x) * self.logit_scale + self.steps.sum() + self.fp16.float().sum()


@pytest.mark.parametrize("how", ["trace", "script"])
def test_a_small_module(tmp_path, how):
    torch.manual_seed(0)
    net = Net().eval()
    compiled = torch.jit.trace(net, torch.randn(2, 4)) if how == "trace" else torch.jit.script(net)
    path = tmp_path / f"net-{how}.pt"
    torch.jit.save(compiled, str(path))
    assert is_torchscript(path)
    ours = assert_same_as_jit_load(path)
    assert "blocks.0.mask" not in ours  # a plain attribute (scripted: an attribute; traced: a constant)
    assert {"blocks.1.cache", "steps", "fp16", "logit_scale", "head.0.weight"} <= set(ours)
    assert ours["fp16"].dtype == torch.float16 and ours["steps"].dtype == torch.int64
    assert torch.equal(ours["blocks.0.cache"], net.blocks[0].cache)


def test_a_traced_clip_with_openai_extras(tmp_path):
    """A traced tiny CLIP with the hyperparameter buffers OpenAI's original files hold."""
    torch.manual_seed(0)
    model = models.open_clip_with_our_configs().create_model(TINY).eval()
    for name, value in (("input_resolution", 64), ("context_length", 32), ("vocab_size", 49408)):
        if hasattr(model, name):
            delattr(model, name)  # open_clip keeps context_length and vocab_size as ints
        model.register_buffer(name, torch.tensor(value))
    model.half()  # OpenAI's files are fp16
    traced = torch.jit.trace_module(model, {"encode_image": torch.randn(1, 3, 64, 64).half()})
    path = tmp_path / "ViT-Tiny-traced.pt"
    torch.jit.save(traced, str(path))
    ours = assert_same_as_jit_load(path)
    assert ours["input_resolution"].item() == 64 and ours["vocab_size"].item() == 49408
    assert ours["visual.conv1.weight"].dtype == torch.float16
    assert set(ours) == set(model.state_dict()) | {"attn_mask"}


def write_archive(path, data_pkl: bytes):
    """A zip laid out like a TorchScript archive, with `data_pkl` as its data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/code/__torch__.py", "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n")
        zf.writestr("archive/constants.pkl", pickle.dumps((), protocol=2))
        zf.writestr("archive/version", "3\n")


def open_marker(marker) -> bytes:
    """Pickle opcodes that call builtins.open(marker, "w")."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR"


def payloads(marker):
    """(global named in the refusal, data.pkl) pairs, each of which would create `marker` if unpickled."""
    command = f"touch {marker}".encode()
    return [
        ("os.system", b"cos\nsystem\n(V" + command + b"\ntR."),
        ("builtins.eval", b"cbuiltins\neval\n(V__import__('os').system('" + command + b"')\ntR."),
        # a legitimate module object whose state hides the call
        ("builtins.open", b"\x80\x02c__torch__\nM\n)\x81}(Vweight\n" + open_marker(marker) + b"ub."),
    ]


@pytest.mark.parametrize("index", range(3))
def test_a_malicious_archive_is_refused_without_running_it(tmp_path, index):
    marker = tmp_path / "pwned"
    name, data = payloads(marker)[index]
    path = tmp_path / "evil.pt"
    write_archive(path, data)
    assert is_torchscript(path)
    with pytest.raises(ValueError, match=f"refused global {name}"):
        read_torchscript(path)
    assert not marker.exists()


def test_the_payloads_are_live(tmp_path):
    """The call the third payload hides, unpickled by plain pickle, does create the marker."""
    marker = tmp_path / "pwned"
    pickle.loads(open_marker(marker) + b".").close()
    assert marker.exists()


def test_build_on_an_allowed_function_is_refused(tmp_path):
    data = b"\x80\x02ccollections\nOrderedDict\n}V__defaults__\n(K\x01tsb."
    path = tmp_path / "evil.pt"
    write_archive(path, data)
    with pytest.raises(ValueError, match="refused BUILD"):
        read_torchscript(path)


def test_a_truncated_storage_is_refused(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net()), str(path))
    truncated = tmp_path / "truncated.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(truncated, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data[:2] if info.filename.endswith("/data/0") else data)
    with pytest.raises(ValueError, match="data/0 holds 2 bytes"):
        read_torchscript(truncated)
