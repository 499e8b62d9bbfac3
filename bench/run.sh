#!/usr/bin/env bash
# Benchmark harness for issue 7: ipsd against vipsthumbnail / vips on the same
# files, in one run, alternating rounds. Prints medians, ratios, the daemon's
# peak RSS and SSIM against an ImageMagick Lanczos reference.
#
#   bench/run.sh [-n FILES_PER_ROUND] [-r ROUNDS] [-d PLAIN_COPIES] [-j JOBS]
#
# (a)-(c) render N copies of the photo (or of a ~2000 px PNG with alpha
# made from it) per round, two in flight: ipsd through `ipsd copy -batch
# -parallel 2` over the socket, the peers with xargs -P2, one process per
# file. (d) copies D files per round with an empty modifier, against
# `cp SRC DST && sync DST` for each file, also two at a time. Rounds
# alternate which side goes first. The daemon's peak RSS is reset before
# every (a) batch (/proc/PID/clear_refs) and the largest peak is printed.
# -j picks the jobs (default abcd). IPSD_BENCH_KEEP=1 keeps the work directory (and the daemon's log);
# IPSD_BENCH_PROFILE=DIR writes the daemon's CPU and allocation profiles
# (ipsd serve -cpuprofile, -memprofile) and its binary there, for
# `go tool pprof DIR/ipsd DIR/cpu.pprof`.
#
# Needs Go, libturbojpeg0-dev, libwebp-dev, libdeflate-dev, libvips-tools, imagemagick
# (/usr/bin/convert) and GNU time; installs the last three with apt-get when
# missing and running as root. Wall-clock throughputs on a shared machine are
# noisy: the CPU seconds per image (user+sys of every process involved) are
# printed too and are the steadier figure.
set -euo pipefail
cd "$(dirname "$0")/.."

N=16 ROUNDS=5 D=200 JOBS=abcd
while getopts n:r:d:j: o; do
  case $o in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    d) D=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    *) exit 2 ;;
  esac
done

PHOTO=${IPSD_BENCH_PHOTO:-../shared/corpus/photos/42_IndexError.jpg}
[ -r "$PHOTO" ] || { echo "bench: $PHOTO not found" >&2; exit 1; }
need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
[ -x /usr/bin/convert ] || need+=(imagemagick)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: please install ${need[*]}" >&2; exit 1; }
  apt-get install -y "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/ipsd-bench.XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ -n "${IPSD_BENCH_KEEP:-}" ] && echo "bench: kept $work" >&2 || rm -rf "$work"' EXIT
pid=
mkdir -p "$work"/{root/Bench/src,root/Bench/out,state,vips,cp}
go build -o "$work/ipsd" ./cmd/ipsd
go build -o "$work/ssim" ./bench/ssim
ipsd=$work/ipsd

# sources: N copies of the photo (distinct files, same content), and a
# ~2000 px PNG with a real alpha channel made from it
for i in $(seq "$N"); do cp "$PHOTO" "$work/root/Bench/src/p$i.jpg"; done
mkdir -p "$work/root/Bench/plain"
for i in $(seq "$D"); do cp "$PHOTO" "$work/root/Bench/plain/q$i.jpg"; done
/usr/bin/convert "$PHOTO" -resize 2000x \( +clone -fx 'i/w' \) -alpha off -compose CopyOpacity -composite \
  "$work/alpha.png"
for i in $(seq "$N"); do cp "$work/alpha.png" "$work/root/Bench/src/a$i.png"; done

cat > "$work/ipsd.toml" <<TOML
root = "$work/root"
state_dir = "$work/state"
[api]
socket = "$work/ipsd.sock"
[metrics]
listen = ""
[render]
workers = 2
[[user]]
email = "bench@example.com"
unix = ["$(id -u)"]
[[user.membership]]
company = "Bench"
role = "IpsUser"
TOML
prof=()
if [ -n "${IPSD_BENCH_PROFILE:-}" ]; then
  mkdir -p "$IPSD_BENCH_PROFILE"
  prof=(-cpuprofile "$IPSD_BENCH_PROFILE/cpu.pprof" -memprofile "$IPSD_BENCH_PROFILE/allocs.pprof")
  cp "$ipsd" "$IPSD_BENCH_PROFILE/ipsd"
fi
"$ipsd" serve -config "$work/ipsd.toml" "${prof[@]}" 2>"$work/ipsd.log" &
pid=$!
for _ in $(seq 200); do
  [ -S "$work/ipsd.sock" ] && "$ipsd" ls -config "$work/ipsd.toml" >/dev/null 2>&1 && break
  sleep 0.1
done
company=$("$ipsd" ls -config "$work/ipsd.toml" | awk -F'\t' '$2=="Bench"{print $1}')
"$ipsd" ls -config "$work/ipsd.toml" Bench/ > "$work/assets.tsv"
handle() { awk -F'\t' -v n="$1" '$2 ~ ("/" n "$"){print $1}' "$work/assets.tsv"; }

cpu_of_daemon() { awk '{print $14+$15}' "/proc/$pid/stat"; } # clock ticks
TCK=$(getconf CLK_TCK)

# run_ipsd JOB PREFIX MODIFIER ROUND EXT [COUNT]: one batch of COUNT (N)
# copies, two in flight
run_ipsd() {
  local job=$1 src=$2 mod=$3 round=$4 csv=$work/$1.$4.csv n=${6:-$N}
  : > "$csv"
  for i in $(seq "$n"); do
    echo "$company,$(handle "$src$i.${5}"),Bench/out/,${job}_${round}_$i,$mod" >> "$csv"
  done
  local c0 t0 t1 c1
  c0=$(cpu_of_daemon)
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/client.time" "$ipsd" copy -config "$work/ipsd.toml" -batch "$csv" -parallel 2 >/dev/null 2>>"$work/client.log"
  t1=$(date +%s.%N)
  c1=$(cpu_of_daemon)
  local cc; cc=$(awk '{print $1+$2}' "$work/client.time")
  echo "$job ipsd $(echo "$t1 - $t0" | bc -l) $(echo "($c1 - $c0)/$TCK + $cc" | bc -l) $n" >> "$work/results"
}
# run_peer JOB NAME CMD...: the peer over the same files, xargs -P2
run_peer() {
  local job=$1 name=$2 ext=$3; shift 3
  rm -rf "$work/vips"/*
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/peer.time" bash -c "ls $work/root/Bench/src/*.$ext | xargs -P2 -I{} $*"
  t1=$(date +%s.%N)
  echo "$job $name $(echo "$t1 - $t0" | bc -l) $(awk '{print $1+$2}' "$work/peer.time") $N" >> "$work/results"
}
# run_cp: `cp SRC DST && sync DST` for each of the D files, two at a time
run_cp() {
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/peer.time" bash -c "ls $work/root/Bench/plain/*.jpg | xargs -P2 -I{} sh -c 'cp {} $work/cp/\$(basename {}) && sync $work/cp/\$(basename {})'"
  t1=$(date +%s.%N)
  echo "d cp+sync $(echo "$t1 - $t0" | bc -l) $(awk '{print $1+$2}' "$work/peer.time") $D" >> "$work/results"
  rm -f "$work"/cp/*
}
hwm() { awk '/^VmHWM/{print $2}' "/proc/$pid/status"; }

: > "$work/results"
has() { [[ $JOBS == *$1* ]]; }
for round in $(seq "$ROUNDS"); do
  # ipsd first on odd rounds, the peer first on even ones
  for order in 1 2; do
    if [ $(( (round + order) % 2 )) = 0 ]; then
      if has a; then
        echo 5 > "/proc/$pid/clear_refs" # peak RSS from here
        run_ipsd a p 'wid=1200&qlt=85' "$round" jpg
        hwm >> "$work/hwm_a"
      fi
      has b && run_ipsd b p 'wid=1200&fmt=webp&qlt=80' "$round" jpg
      has c && run_ipsd c a 'wid=500&fmt=png-alpha' "$round" png
      if has d; then
        run_ipsd d q '' "$round" jpg "$D"
        rm -f "$work"/root/Bench/out/d_* # keep the tree from growing by D copies a round
      fi
    else
      has a && run_peer a vipsthumbnail jpg "vipsthumbnail {} -s 1200x -o '$work/vips/%s.jpg[Q=85]'"
      has b && run_peer b vips jpg "sh -c 'vips thumbnail {} $work/vips/\$(basename {} .jpg).webp[Q=80] 1200'"
      has c && run_peer c vipsthumbnail png "vipsthumbnail {} -s 500x -o '$work/vips/%s.png'"
      has d && run_cp
    fi
  done
done

# quality of (a): SSIM against ImageMagick's Lanczos resize of the full decode
has a && {
/usr/bin/convert "$PHOTO" -filter Lanczos -resize 1200x "$work/ref.png"
vipsthumbnail "$PHOTO" -s 1200x -o "$work/vips.jpg[Q=85]"
ours=$(ls "$work"/root/Bench/out/a_1_1.* | head -1)
ssim_ipsd=$("$work/ssim" "$work/ref.png" "$ours")
ssim_vips=$("$work/ssim" "$work/ref.png" "$work/vips.jpg")
size_ipsd=$(stat -c %s "$ours")
size_vips=$(stat -c %s "$work/vips.jpg")
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "files per batch: $N for (a)-(c), $D for (d); rounds: $ROUNDS (medians over rounds)"
awk '
  { key = $1 " " $2; wall[key] = wall[key] " " $3; cpu[key] = cpu[key] " " $4; keys[key] = 1; cnt[key] = $5 }
  function median(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    printf "%-4s %-14s %10s %12s %14s\n", "job", "tool", "images/s", "wall s/batch", "cpu ms/image"
    for (key in keys) {
      split(key, p, " ")
      w = median(wall[key]); c = median(cpu[key]); n = cnt[key]
      printf "%-4s %-14s %10.2f %12.3f %14.1f\n", p[1], p[2], n / w, w, 1000 * c / n
      W[key] = w; C[key] = c
    }
    printf "ratios (peer time / ipsd time; (d): ipsd time / cp+sync time):\n"
    if (W["a ipsd"]) printf "  (a) %.2fx wall, %.2fx cpu   target >= 2.5x\n", W["a vipsthumbnail"] / W["a ipsd"], C["a vipsthumbnail"] / C["a ipsd"]
    if (W["b ipsd"]) printf "  (b) %.2fx wall, %.2fx cpu   target >= 1.5x\n", W["b vips"] / W["b ipsd"], C["b vips"] / C["b ipsd"]
    if (W["c ipsd"]) printf "  (c) %.2fx wall, %.2fx cpu   target >= 1.5x\n", W["c vipsthumbnail"] / W["c ipsd"], C["c vipsthumbnail"] / C["c ipsd"]
    if (W["d ipsd"]) printf "  (d) %.2fx wall             target <= 1.25x\n", W["d ipsd"] / W["d cp+sync"]
  }' "$work/results"
has a || exit 0
echo "peak RSS of ipsd during (a): $(( $(sort -n "$work/hwm_a" | tail -1) / 1024 )) MiB, largest of $ROUNDS batches (target <= 120)"
echo "SSIM of (a) vs ImageMagick Lanczos: ipsd $ssim_ipsd, vipsthumbnail $ssim_vips (target: ipsd >= vipsthumbnail)"
echo "file size of (a): ipsd $size_ipsd bytes, vipsthumbnail $size_vips bytes ($(echo "scale=1; 100 * ($size_ipsd - $size_vips) / $size_vips" | bc -l)%, target within 10%)"
