"""The weights of a TorchScript archive, read without running anything from the file.

TorchScript archives of CLIP models are common: OpenAI's original `clip` cache files (ViT-B-32.pt, ...: traced or
scripted models that open_clip's `load_openai_model` opens with `torch.jit.load`) and open_clip `jit=True` saves
(`torch.jit.script(model)` + `torch.jit.save`). `torch.load(weights_only=True)` refuses them, and `torch.jit.load`
compiles the archive's code and rebuilds its objects in C++, which we will not do with a file we do not trust.

What is read. An archive is a zip (`torch.jit.save`, torch/jit/_serialization.py `save`) holding, under one top
folder: `data.pkl`, the pickled module tree; `data/<key>`, the raw bytes of each storage; `code/__torch__/...py`,
the compiled code of each class; `constants.pkl` + `constants/<key>`, the tensors the code uses as constants (e.g. a
traced `torch.tensor(...)` or a plain tensor attribute captured by `torch.jit.trace`: never a parameter or buffer,
so not read). `read_torchscript` unpickles `data.pkl` with `_Unpickler` (pickle's pure-Python `_Unpickler`, so
that BUILD can be restricted too), which resolves only these globals (the ones torch's own TorchScript unpickler,
torch/csrc/jit/serialization/unpickler.cpp `Unpickler::readGlobal`, knows, less the ones CLIP never needs; compare
torch/_weights_only_unpickler.py `_get_allowed_globals` for torch.load):

- `__torch__.*` classes (modules and scripted classes): an inert stand-in (`ScriptObject`) that only records the
  state BUILD hands it (BUILD on anything else is refused); no class from the file or torch is imported or built;
- `torch._utils._rebuild_tensor_v2` and `torch._utils._rebuild_tensor`: our wrappers, which check the offset,
  size and stride against the storage, and then call torch's `torch._utils._rebuild_tensor`
  (torch/_utils.py, 2.14.1); requires_grad and backward hooks from the file are dropped;
- `torch.<Dtype>Storage`: `torch.serialization.StorageType` (its dtype only, as torch/serialization.py `_load`
  `UnpicklerWrapper.find_class` does);
- `collections.OrderedDict` (the empty backward hooks), `builtins.complex`, `builtins.set`, `torch.device`, and
  torch/jit/_pickle.py's identity functions (`restore_type_tag`, `build_intlist`, ...).

Each storage comes from `persistent_load(("storage", storage type, key, location, numel))` as in
torch/serialization.py `_load` (`persistent_load`, `load_tensor`): `data/<key>` read from the zip, its size
checked against numel x the dtype's size, `torch.UntypedStorage.from_buffer`, byte-swapped if the archive's
`byteorder` record differs from ours, and wrapped in a `torch.storage.TypedStorage` of that dtype; always on the CPU.

What is refused (ValueError naming the global): everything else, e.g. `os.system`, `builtins.eval`, `__main__.*`,
`torch._tensor._rebuild_from_type_v2` (tensor subclasses), quantized and sparse tensors, RRefs. Refusing in
`find_class` means no such callable is ever fetched, so nothing from the file runs.

Which tensors come out: those of `torch.jit.load(path).state_dict()`. `RecursiveScriptModule.state_dict`
(nn.Module's, over torch/jit/_script.py `RecursiveScriptModule._construct`'s `OrderedDictWrapper`s of
`torch._C.ParameterDict` / `BufferDict`) walks the module's parameter slots, then its buffer slots, then its
submodules, in attribute order; which attributes are parameters or buffers is recorded
only in the class definitions, `__parameters__ = [...]` and `__buffers__ = [...]` in `code/` (torch's Python
printer writes them on one line each). Those two lines are read as text (`ast.literal_eval` of a list of strings:
a literal, nothing evaluated), the class's base (`class X(Module):`) tells modules from other scripted objects, and
a class whose definition cannot be found falls back to all of its tensor attributes and all of its object
attributes as submodules. TorchScript keeps no `persistent=False`, so a scripted model's non-persistent buffers
(open_clip's `attn_mask`) come out, as they do from `torch.jit.load(...).state_dict()`; so do OpenAI's
`input_resolution`, `context_length` and `vocab_size` buffers where an archive has them.

The detection (`is_torchscript`) is torch/serialization.py `_is_torchscript_zip` (a `constants.pkl` record), or
any record under `code/`.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import re
import sys
import zipfile

import torch
import torch.jit._pickle

__all__ = ["ScriptObject", "is_torchscript", "read_torchscript"]


def _records(zf: zipfile.ZipFile) -> tuple[str, set[str]]:
    """(the archive's top folder, its record names without that folder), as torch's PyTorchStreamReader names them:
    the top folder is the first member's."""
    names = zf.namelist()
    if not names or "/" not in names[0]:
        return "", set()
    prefix = names[0].split("/", 1)[0]
    return prefix, {name[len(prefix) + 1:] for name in names if name.startswith(prefix + "/")}


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether `path` is a TorchScript archive (`torch.jit.save`): a zip with a `constants.pkl` record or code under
    `code/` (torch.save archives have neither). False for any other file, zip or not; FileNotFoundError for no
    file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            _, records = _records(zf)
    except zipfile.BadZipFile:
        return False
    return "constants.pkl" in records or any(r.startswith("code/") for r in records)


class ScriptObject:
    """An inert stand-in for a TorchScript object (`__torch__.*` class): pickle's NEWOBJ makes an empty one and
    BUILD hands it its state, a dict of attribute name -> value for modules, which it only records."""

    _qualified_name = "__torch__"
    _args: tuple = ()
    _state = None

    def __init__(self, *args):
        self._args = args

    def __repr__(self):
        return f"<ScriptObject {self._qualified_name}>"


def _refuse(module: str, name: str):
    raise ValueError(f"refused global {module}.{name}: a TorchScript archive of weights needs only tensors, "
                     f"storages and its own __torch__ module objects; unpickling this could run code from the file")


def _ints(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise ValueError(f"malformed tensor in the archive: {what} is not a tuple of ints: {value!r}")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride):
    """torch._utils._rebuild_tensor after checking its arguments (they come from the file): a storage that
    `persistent_load` made, and a view that lies inside it."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise ValueError(f"malformed tensor in the archive: its storage is a {type(storage).__name__}")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride) or \
            any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise ValueError(f"malformed tensor in the archive: offset {storage_offset!r}, size {size}, stride {stride}")
    numel = storage._untyped_storage.nbytes() // storage.dtype.itemsize
    if all(size) and storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) >= numel:
        raise ValueError(f"malformed tensor in the archive: size {size}, stride {stride} and offset "
                         f"{storage_offset} run past its storage of {numel} elements")
    return torch._utils._rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """torch._utils._rebuild_tensor_v2 without what a state dict does not keep: requires_grad and the (always
    empty) backward hooks; the conj / neg bits of `metadata` are kept (torch._utils.set_tensor_metadata)."""
    tensor = _rebuild_tensor(storage, storage_offset, size, stride)
    if metadata:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and type(v) is bool
                                                     for k, v in metadata.items()):
            raise ValueError(f"malformed tensor metadata in the archive: {metadata!r}")
        torch._utils.set_tensor_metadata(tensor, metadata)
    return tensor


def _ordered_dict(*args):
    """collections.OrderedDict, which TorchScript pickles only as a tensor's (empty, unused) backward hooks."""
    return None


_STORAGE = re.compile(r"[A-Za-z0-9]+Storage")
_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "complex"): complex,
    ("builtins", "set"): set,
    ("torch", "device"): torch.device,
    **{("torch.jit._pickle", name): getattr(torch.jit._pickle, name)
       for name in ("restore_type_tag", "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
                    "build_tensor_from_id")},
}


class _Unpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler for a TorchScript `data.pkl`: the globals in the module docstring and nothing
    else, storages read from the archive, and BUILD (which pickle would apply to any object on the stack, e.g. by
    setting attributes of an allowed function) only on `ScriptObject`s, as the TorchScript pickler writes it."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, ScriptObject):
            raise ValueError(f"refused BUILD on a {type(inst).__name__}: the TorchScript pickler builds only its "
                             f"__torch__ objects")
        inst._state = state

    dispatch[pickle.BUILD[0]] = load_build

    def __init__(self, file, zf: zipfile.ZipFile, prefix: str):
        super().__init__(file, encoding="utf-8")
        self._zf, self._prefix = zf, prefix
        self._storages: dict[str, torch.UntypedStorage] = {}
        self._classes: dict[tuple[str, str], type] = {}
        byteorder = prefix + "/byteorder"
        self._byteorder = zf.read(byteorder).decode() if byteorder in zf.NameToInfo else "little"
        if self._byteorder not in ("little", "big"):
            raise ValueError(f"unknown byte order in the archive: {self._byteorder!r}")

    def find_class(self, module, name):
        if (module == "__torch__" or module.startswith("__torch__.")) and name.isidentifier():
            key = (module, name)
            if key not in self._classes:
                self._classes[key] = type(name, (ScriptObject,), {"_qualified_name": f"{module}.{name}",
                                                                  "__module__": __name__})
            return self._classes[key]
        if module == "torch" and _STORAGE.fullmatch(name):
            try:
                return torch.serialization.StorageType(name)
            except KeyError:
                pass
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        _refuse(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"malformed persistent id in the archive: {pid!r}")
        storage_type, key, _location, numel = pid[1:]
        if not isinstance(storage_type, torch.serialization.StorageType) or not isinstance(key, str) or \
                type(numel) is not int or numel < 0:
            raise ValueError(f"malformed storage reference in the archive: {pid!r}")
        dtype = storage_type.dtype
        nbytes = numel * torch._utils._element_size(dtype)
        storage = self._storages.get(key)
        if storage is None:
            record = f"{self._prefix}/data/{key}"
            info = self._zf.NameToInfo.get(record)
            if info is None and nbytes:
                raise ValueError(f"the archive has no record {record} for a storage it references")
            if nbytes and info.file_size < nbytes:
                raise ValueError(f"{record} holds {info.file_size} bytes, its tensor needs {nbytes}")
            data = self._zf.read(record)[:nbytes] if nbytes else b""
            storage = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8) if data else torch.UntypedStorage(0)
            if self._byteorder != sys.byteorder and dtype.itemsize > 1:
                storage.byteswap(dtype)
            self._storages[key] = storage
        elif storage.nbytes() < nbytes:
            raise ValueError(f"storage {key} is referenced with more bytes ({nbytes}) than it holds")
        return torch.storage.TypedStorage(wrap_storage=storage[:nbytes] if nbytes < storage.nbytes() else storage,
                                          dtype=dtype, _internal=True)


_CLASS = re.compile(r"^class (\w+)\((\w*)\):[ \t]*$")
_SLOTS = re.compile(r"^  (__parameters__|__buffers__) = (\[.*\])[ \t]*$")


class _Classes:
    """The class definitions of the archive's code, read as text: for each `__torch__` class, whether it is a module
    and its parameter and buffer names (None where the code does not say)."""

    def __init__(self, zf: zipfile.ZipFile, prefix: str):
        self._zf, self._prefix = zf, prefix
        self._files: dict[str, dict] = {}

    def _file(self, module: str) -> dict:
        if module not in self._files:
            record = f"{self._prefix}/code/{module.replace('.', '/')}.py"
            classes: dict[str, dict] = {}
            if record in self._zf.NameToInfo:
                current = None
                for line in self._zf.read(record).decode("utf-8", "replace").splitlines():
                    if match := _CLASS.match(line):
                        current = classes[match[1]] = {"module": match[2] == "Module"}
                    elif line and not line[0].isspace():
                        current = None
                    elif current is not None and (match := _SLOTS.match(line)):
                        try:
                            names = ast.literal_eval(match[2])
                        except (ValueError, SyntaxError):
                            continue
                        if isinstance(names, list) and all(isinstance(n, str) for n in names):
                            current[match[1]] = names
            self._files[module] = classes
        return self._files[module]

    def get(self, qualified_name: str) -> dict | None:
        module, _, name = qualified_name.rpartition(".")
        return self._file(module).get(name)


def _walk(obj: ScriptObject, prefix: str, classes: _Classes, out: dict, ancestors: set[int]):
    """Add the parameters, then the buffers of module `obj`, then its submodules', as nn.Module.state_dict orders
    them."""
    if id(obj) in ancestors:
        raise ValueError(f"malformed archive: module {prefix.rstrip('.') or '(root)'} contains itself")
    state = obj._state
    if not isinstance(state, dict):
        raise ValueError(f"malformed archive: module {prefix.rstrip('.') or '(root)'} ({obj._qualified_name}) has "
                         f"no attribute dict")
    spec = classes.get(obj._qualified_name)
    if spec is not None and "__parameters__" in spec:
        parameters = set(spec["__parameters__"])
        # archives from before buffers were recorded: every other tensor attribute
        buffers = set(spec["__buffers__"]) if "__buffers__" in spec else \
            {k for k, v in state.items() if isinstance(v, torch.Tensor)} - parameters
    else:
        parameters, buffers = {k for k, v in state.items() if isinstance(v, torch.Tensor)}, set()
    for names in (parameters, buffers):
        for name, value in state.items():
            if name in names and isinstance(value, torch.Tensor):
                out[prefix + name] = value
    for name, value in state.items():
        if isinstance(value, ScriptObject):
            sub = classes.get(value._qualified_name)
            if sub is None or sub["module"]:
                _walk(value, f"{prefix}{name}.", classes, out, ancestors | {id(obj)})


def read_torchscript(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The parameters and buffers of the TorchScript archive at `path`, by dotted module name, on the CPU: the keys
    and values of `torch.jit.load(path).state_dict()` (requires_grad False), read without running anything from the
    file (see the module docstring). ValueError for a file that is not such an archive, a global the reader does not
    allow (named), or a malformed archive."""
    path = os.fspath(path)
    if not is_torchscript(path):
        raise ValueError(f"{path} is not a TorchScript archive (a zip with constants.pkl or code/)")
    with zipfile.ZipFile(path) as zf:
        prefix, records = _records(zf)
        if "data.pkl" not in records:
            raise ValueError(f"{path}: the TorchScript archive has no {prefix}/data.pkl (an archive from before "
                             f"PyTorch 1.4, not supported)")
        unpickler = _Unpickler(io.BytesIO(zf.read(f"{prefix}/data.pkl")), zf, prefix)
        try:
            root = unpickler.load()
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        except (pickle.UnpicklingError, TypeError, AttributeError, IndexError, KeyError, EOFError) as e:
            raise ValueError(f"{path}: malformed data.pkl in the TorchScript archive ({type(e).__name__}: {e})") \
                from None
        if not isinstance(root, ScriptObject):
            raise ValueError(f"{path}: data.pkl holds a {type(root).__name__}, not a TorchScript module")
        out: dict[str, torch.Tensor] = {}
        try:
            _walk(root, "", _Classes(zf, prefix), out, set())
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return out
