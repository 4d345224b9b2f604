#!/bin/bash
# Reproduces models/shipped/ from documented seeds: the teacher (train.py,
# seed 1, 55 minutes), the student distilled from it (distill.py, seed 2,
# 30 minutes), then model cards and native model files with their
# .expected.json. A stage whose final.pt exists is skipped, so the script can
# be rerun after an interruption (training stages resume their checkpoints).
#
#   tools/train/make_models.sh            # TEACHER_MINUTES / STUDENT_MINUTES override the budgets
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS=tools/train/runs
OUT=models/shipped
# One BLAS thread: the machine is shared and a 2-thread GEMM stalls whenever
# one of its threads is descheduled.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
TEACHER_MINUTES=${TEACHER_MINUTES:-55}
STUDENT_MINUTES=${STUDENT_MINUTES:-30}

if ! go build -o bin/edgeclip ./cmd/edgeclip; then
	[ -x bin/edgeclip ] || exit 1
	echo "make_models: go build failed; using the existing bin/edgeclip" >&2
fi
mkdir -p "$RUNS" "$OUT"

tcmd="train.py --preset teacher --minutes $TEACHER_MINUTES --seed 1 --out $RUNS/teacher"
if [ ! -f "$RUNS/teacher/final.pt" ]; then
	$PY tools/train/$tcmd --resume
fi

scmd="distill.py --teacher $RUNS/teacher/final.pt --preset student --aux-weight 1 --minutes $STUDENT_MINUTES --seed 2 --out $RUNS/student"
if [ ! -f "$RUNS/student/final.pt" ]; then
	$PY tools/train/$scmd --resume
fi

$PY tools/train/card.py --run "$RUNS/teacher/final.pt" --name world-teacher-f32 \
	--out "$OUT/world-teacher-f32.md" --command "$tcmd"
$PY tools/train/export.py --run "$RUNS/teacher/final.pt" --name world-teacher-f32 \
	--card "$OUT/world-teacher-f32.md" --out "$OUT/world-teacher-f32.safetensors"
$PY tools/train/card.py --run "$RUNS/student/final.pt" --teacher-run "$RUNS/teacher/final.pt" \
	--name world-student-f32 --out "$OUT/world-student-f32.md" --command "$scmd"
$PY tools/train/export.py --run "$RUNS/student/final.pt" --name world-student-f32 \
	--card "$OUT/world-student-f32.md" --out "$OUT/world-student-f32.safetensors"
echo "make_models: done: $(ls "$OUT")"
