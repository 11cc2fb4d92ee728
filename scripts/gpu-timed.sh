# Sourced by scripts/gpu-int8*.sh (needs $W and $OUT).
# timed LABEL BYTES CMD...: wall time, MB/s and the GPU's utilisation (nvidia-smi dmon, 1 s)
timed() {
  local label=$1 bytes=$2
  shift 2
  (nvidia-smi dmon -s um -d 1 > $W/dmon.txt 2>/dev/null &
   echo $! > $W/dmon.pid; wait) &
  sleep 0.2
  local s=$(date +%s.%N)
  "$@" 2>&1 | sed "s/^/  /"
  local rc=${PIPESTATUS[0]} e=$(date +%s.%N)
  kill $(cat $W/dmon.pid) 2>/dev/null
  cp $W/dmon.txt $OUT/dmon.$label.txt 2>/dev/null
  python3 - "$label" "$bytes" "$s" "$e" "$rc" $W/dmon.txt <<'EOF'
import sys
label, n, s, e, rc, f = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
u, col, fb, fcol = [], None, [], None
try:
    for line in open(f):
        p = line.split()
        if line.startswith("#") and "sm" in p:
            col = p.index("sm") - 1
            fcol = p.index("fb") - 1 if "fb" in p else None
        elif col is not None and p and p[0].isdigit() and p[col].isdigit():
            u.append(int(p[col]))
            if fcol is not None and p[fcol].isdigit():
                fb.append(int(p[fcol]))
except OSError:
    pass
t = e - s
mem = f", GPU memory max {max(fb)} MB" if fb else ""
util = f"sm util mean {sum(u)/len(u):.0f}% median {sorted(u)[len(u)//2]}% max {max(u)}% ({len(u)} s)" if u else "no dmon"
print(f"RESULT {label}: rc={rc} {t:.2f} s {n/1e6/t:.3f} MB/s, {util}{mem}")
EOF
}

