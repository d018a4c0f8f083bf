#!/usr/bin/env bash
# One prepared check of every GPU stage (benchmarks/gpu_check.py says what each part measures):
#
#   benchmarks/gpu_check.sh OUT          on a GPU node: about 8 minutes; OUT/gpu_check.md and OUT/gpu_check.json
#   benchmarks/gpu_check.sh --cpu OUT    the reduced mode (tiny sizes on the CPU) that make test runs
#
# Before anything else it checks that the repository and benchmarks/wheels stay under 64 MiB (what the device tool
# carries). Where open_clip, diffusers, webdataset or pandas cannot be imported, it installs them from the wheels
# `make gpu-wheels` put in benchmarks/wheels (no network: --no-index) into OUT/site, beside the node's own torch,
# transformers, timm, safetensors and huggingface_hub. Each part runs in its own process under
# its own time limit (train 240 s, loader 90, synthesize 240, evaluate 150: 12 minutes at the very most; or
# GPU_CHECK_PART_LIMIT seconds each), so that one that fails or hangs costs only itself.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mode=()
if [ "${1:-}" = "--cpu" ]; then
    mode=(--cpu)
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: benchmarks/gpu_check.sh [--cpu] OUT" >&2
    exit 2
fi
out="$1"
python="${PYTHON:-python3}"
declare -A limits=([train]=240 [loader]=90 [synthesize]=240 [evaluate]=150)
mkdir -p "$out/parts" || exit 2
out="$(cd "$out" && pwd)"

"$python" "$here/gpu_check.py" size || exit 2

repo="$(dirname "$here")"
if [ -d "$out/site" ]; then  # installed by an earlier run into the same OUT
    export PYTHONPATH="$out/site${PYTHONPATH:+:$PYTHONPATH}"
fi
# this package comes from the repository itself, as gpu_check.py imports it
imports="import open_clip, diffusers, webdataset, pandas, tripletclip.train, tripletclip.synthesize.diffusion"
if ! PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$python" -c "$imports" 2>/dev/null; then
    echo "installing from $here/wheels into $out/site"
    if ! ls "$here"/wheels/*.whl >/dev/null 2>&1; then
        echo "no wheels in $here/wheels: run 'make gpu-wheels' where there is network, then carry the folder" >&2
        exit 2
    fi
    # --target and PYTHONPATH rather than a venv: the node's stack may itself be a venv or a conda env, which a venv
    # made from its interpreter would not see; --no-deps: that stack provides the rest, the check below names a gap
    "$python" -m pip install --quiet --no-index --no-deps --target "$out/site" "$here"/wheels/*.whl || exit 2
    export PYTHONPATH="$out/site${PYTHONPATH:+:$PYTHONPATH}"
    if ! PYTHONPATH="$repo:$PYTHONPATH" "$python" -c "$imports"; then
        echo "the wheels installed but an import fails (above): add its wheel to benchmarks/gpu_wheels.txt" >&2
        exit 2
    fi
fi

for part in train loader synthesize evaluate; do
    start=$(date +%s)
    limit="${GPU_CHECK_PART_LIMIT:-${limits[$part]}}"
    timeout --kill-after=10 "$limit" "$python" "$here/gpu_check.py" "$part" --out "$out" ${mode[@]+"${mode[@]}"} \
        > "$out/parts/$part.log" 2>&1
    status=$?
    echo "$status" > "$out/parts/$part.status"
    echo "$part: exit status $status after $(( $(date +%s) - start )) s (log: $out/parts/$part.log)"
done
"$python" "$here/gpu_check.py" report --out "$out" ${mode[@]+"${mode[@]}"}
