#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one command, on a machine with a CUDA GPU:
#
#     bash benchmarks/gpu_session.sh            (from the repository root; OUT=<dir> to choose where results go)
#
# It needs PyTorch with CUDA, numpy, hypothesis, pytest and tabulate (Triton and matplotlib when present);
# TensorFlow and a network are not needed: the project runs from the repository root with PYTHONPATH=.,
# nothing is installed. Each step has its own time budget (`timeout`), so a slow or hanging step
# costs only its share, and the steps' budgets add up to 510 s. Everything is packed into $OUT:
#
#     $OUT/gpu-session.log   every step's command, output, exit status and seconds
#     $OUT/gpu-session.tgz   reports/conformance-cuda.md, reports/timing-cuda.md (+ .html, plots),
#                            the JSON of every step (mutation score at float32/tf32/float16/bfloat16 too)
#
# Then: tar xzf gpu-session.tgz -C <repo> puts reports/ in place; read the log first.
# Without CUDA (to try the script on a CPU) the CUDA steps fail at once with a one-line error and
# the script still packs what it has.
set -u
OUT=${OUT:-/tmp/lstmspec-gpu-session}
WORK=$(mktemp -d)
mkdir -p "$OUT" "$WORK/reports"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# the first interpreter that imports torch; PYTHON=... to choose
PY=${PYTHON:-}
for candidate in python3 python; do
  [ -z "$PY" ] && command -v "$candidate" >/dev/null && "$candidate" -c "import torch" 2>/dev/null && PY=$(command -v "$candidate")
done
PY=${PY:-python3}

pack() { tar czf "$OUT/gpu-session.tgz" -C "$WORK" . && echo "packed: $(tar tzf "$OUT/gpu-session.tgz" | wc -l) entries"; }
trap pack EXIT

step() {  # step NAME SECONDS COMMAND...
  local name=$1 budget=$2 start
  shift 2
  echo
  echo "=== $name (budget ${budget} s): $*"
  start=$(date +%s)
  timeout --kill-after=10 "$budget" "$@"
  echo "=== $name: exit $? after $(( $(date +%s) - start )) s"
}

{
  step environment 20 bash -c 'nvidia-smi -L; "$0" -c "import torch, numpy, triton; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"cudnn\", torch.backends.cudnn.version(), \"numpy\", numpy.__version__, \"triton\", triton.__version__, \"device\", torch.cuda.get_device_name() if torch.cuda.is_available() else None)"' "$PY"

  # issue 3: cuDNN (torch.nn.LSTM on CUDA) and torch.nn.LSTMCell at float32, TF32, float16, bfloat16
  step conformance-cuda 100 "$PY" -m lstmspec check --device cuda --framework torch -q \
    --dtype float32,tf32,float16,bfloat16 --report "$WORK/reports" --json "$WORK/conformance-cuda.json"

  # issues 4 and 5: the examples on the GPU (the Triton cell compiled, the 2-D LSTM wavefront with gradients)
  step triton-cell-cuda 50 "$PY" -m lstmspec check lstm --kernel examples/lstm_triton.py:lstm --device cuda -q \
    --dtype float64,float32,tf32,float16,bfloat16 --json "$WORK/lstm-triton-cuda.json"
  step mdlstm2d-cuda 50 "$PY" -m lstmspec check mdlstm2d --kernel examples/mdlstm2d_wavefront.py:mdlstm2d --grad \
    --device cuda -q --json "$WORK/mdlstm2d-cuda.json"

  # issue 4: the mutation score at the precisions only a GPU has or computes differently
  step mutation-score-cuda 80 "$PY" benchmarks/mutation_score.py --device cuda --json "$WORK/mutation-score-cuda.json"

  # the tests that have CUDA paths (they skip without a GPU in CI)
  step gpu-tests 50 "$PY" -m pytest -q -p no:cacheprovider tests/test_bench.py tests/test_check_torch.py \
    tests/test_report.py -k "cuda or gpu" --junitxml "$WORK/gpu-tests.xml"

  # issue 6: the CUDA timing report, then lstmspec's CUDA-event timer against torch's Timer and Triton's do_bench
  mkdir -p "$WORK/reports/timing-cuda"
  step timing-cuda 120 "$PY" -m lstmspec bench lstm convlstm2d --device cuda --suite gpu --max-time 1 \
    --report "$WORK/reports" --json "$WORK/reports/timing-cuda/timing-cuda.json"
  step timer-crosscheck 40 "$PY" benchmarks/bench_timer_crosscheck.py --device cuda --rounds 3 \
    --json "$WORK/timer-crosscheck-cuda.json"
} 2>&1 | tee "$OUT/gpu-session.log"
