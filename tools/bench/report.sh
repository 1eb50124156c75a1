# shellcheck shell=bash
# tools/bench/report.sh, sourced by tools/bench/run.sh: turns $RESULTS into
# the markdown table and notes, the chart (gnuplot), and the peer comparison
# section of docs/benchmarks.md.

fmt_num() {
  awk -v v="$1" 'BEGIN {
    if (v == "" || v == "fail") { print "fail"; exit }
    if (v + 0 >= 100) printf "%.0f\n", v; else if (v + 0 >= 10) printf "%.1f\n", v; else printf "%.2f\n", v }'
}

# How many times rbfs's figure ($1) is the peer's ($2); for a time (unit s)
# the peer's over rbfs's, so that above 1 is faster in every row.
ratio() {
  if [[ ${3:-} == s ]]; then set -- "$2" "$1"; fi
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "fail" || b == "fail" || b + 0 == 0) { print "–"; exit }
    printf "%.2f\n", a / b }'
}

# Rows: key|unit|label, fio jobs, metadata phases, developer workload steps.
table_rows() {
  local spec key unit label p
  for spec in "${FIO_JOBS[@]}"; do
    IFS='|' read -r key _ _ _ unit label <<<"$spec"
    echo "$key|$unit|$label"
  done
  for p in "${META_PHASES[@]}"; do
    echo "meta_$p|ops/s|metadata: $p"
  done
  for spec in "${DEV_STEPS[@]}"; do
    echo "dev_${spec%%|*}|s|developer: ${spec#*|}"
  done
}

make_table() {
  local key unit label t line
  line="| job | unit |"
  for t in "${TARGETS[@]}"; do line+=" $t |"; done
  line+=" rbfs/passthrough | rbfs/sshfs |"
  echo "$line"
  line="|---|---|"
  for t in "${TARGETS[@]}"; do line+="---:|"; done
  echo "$line---:|---:|"
  while IFS='|' read -r key unit label; do
    line="| $label | $unit |"
    for t in "${TARGETS[@]}"; do
      line+=" $(fmt_num "$(value_of "$t" "$key")") |"
    done
    line+=" $(ratio "$(value_of rbfs "$key")" "$(value_of passthrough "$key")" "$unit") |"
    line+=" $(ratio "$(value_of rbfs "$key")" "$(value_of sshfs "$key")" "$unit") |"
    echo "$line"
  done < <(table_rows)
}

make_notes() {
  local t n
  for t in all "${TARGETS[@]}"; do
    [[ -f $RESULTS/$t.notes ]] || continue
    while IFS= read -r n; do
      if [[ $t == all ]]; then echo "- $n"; else echo "- $t: $n"; fi
    done <"$RESULTS/$t.notes"
  done
}

# Short x-axis labels: "seq write qd16", "meta stat".
chart_label() {
  case $1 in
    append16) echo "append 1M qd16" ;;
    seqwrite*) echo "seq write 1M qd${1#seqwrite}" ;;
    seqread*) echo "seq read 1M qd${1#seqread}" ;;
    randread*) echo "rand read 4k qd${1#randread}" ;;
    randwrite*) echo "rand write 4k qd${1#randwrite}" ;;
    meta_*) echo "meta ${1#meta_}" ;;
    dev_*) echo "dev ${1#dev_}" ;;
    *) echo "$1" ;;
  esac
}

# Chart: every figure divided by passthrough's for the same job (for times,
# passthrough's divided by the figure), log scale, so MiB/s, IOPS, ops/s and
# seconds share one axis, higher is faster and 1.0 is the FUSE ceiling.
make_chart() {
  local png=$1 dat="$WORK/chart.dat" key unit label t v p
  {
    printf '"job"'
    for t in "${TARGETS[@]}"; do printf ' "%s"' "$t"; done
    echo
    while IFS='|' read -r key unit label; do
      p=$(value_of passthrough "$key")
      printf '"%s"' "$(chart_label "$key")"
      for t in "${TARGETS[@]}"; do
        v=$(value_of "$t" "$key")
        awk -v v="$v" -v p="$p" -v u="$unit" 'BEGIN {
          if (v == "" || v == "fail" || p == "" || p == "fail" || p + 0 == 0 || v + 0 <= 0) printf " NaN"
          else if (u == "s") printf " %.4f", p / v
          else printf " %.4f", v / p }'
      done
      echo
    done < <(table_rows)
  } >"$dat"
  # The axis starts at the power of ten below the smallest ratio, so no bar
  # is cut off (the ratios are the last n fields; labels hold spaces).
  local ymin
  ymin=$(awk -v n="${#TARGETS[@]}" 'NR > 1 { for (i = NF - n + 1; i <= NF; i++) if ($i != "NaN" && (m == "" || $i + 0 < m)) m = $i + 0 }
    END { if (m == "" || m >= 0.1) { print 0.01; exit }
          x = log(m / 2) / log(10); f = int(x); if (f > x) f--; printf "%g\n", 10 ^ f }' "$dat")
  local ncols=$(( ${#TARGETS[@]} + 1 )) plot="" i
  for ((i = 2; i <= ncols; i++)); do
    plot+="${plot:+, }'$dat' using $i:xtic(1) title columnheader($i)"
  done
  gnuplot <<EOF
set terminal pngcairo size 1400,700 font "DejaVu Sans,11"
set output '$png'
set title "rbfs and peers, $(date -u +%Y-%m-%d), figure / passthrough's figure (log scale; 1 = FUSE passthrough)"
set datafile missing "NaN"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y
set yrange [$ymin:*]
set grid ytics mytics
set ylabel "relative to passthrough"
set xtics rotate by -30 left
set key top right
set bmargin 6
set rmargin 8
plot $plot, 1 with lines dt 2 lc rgb "black" notitle
EOF
}

# Replaces (or appends) the peer comparison section, leaving the rest alone.
write_docs() {
  local doc="$REPO_ROOT/docs/benchmarks.md" section="$WORK/section.md" cmd=$1
  local mem kernel
  mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  kernel=$(uname -r)
  {
    echo "$SECTION_HEADING"
    echo
    echo "    $cmd"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), rbfs built at $BUILT_FROM."
    echo "Machine: $(nproc) vCPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "$mem RAM, kernel $kernel, $(fio --version), $(sshfs --version 2>&1 | awk '/FUSE library/ { print "libfuse " $4 }')."
    echo "Load average before / after the run: $START_LOADAVG / $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "(other work on the machine shows here)."
    echo
    echo "fio: \`direct=1\`, \`ioengine=libaio\`, one job, ${SIZE} file, ${RUNTIME} s per job after ${RAMP} s ramp"
    echo "(the append row is untimed: it writes the whole new file, which the other jobs then use)."
    echo "Metadata: \`tools/bench/metabench.c\`, $NFILES files of 1 KiB in one directory, one"
    echo "thread; a ${META_PAUSE_MS} ms pause before stat and readdir lets the 1 s FUSE caches expire."
    echo "MiB/s for 1 MiB jobs, IOPS for 4 KiB jobs, ops/s (readdir: entries/s) for metadata."
    echo "Developer workload: seconds per step on a clone of this repository, from cold caches;"
    echo "its ratio columns are the peer's time over rbfs's, so above 1 is faster in every row."
    # shellcheck disable=SC2016  # markdown backticks, not expansions
    echo '`raw` is O_DIRECT on the backing disk; passthrough, sshfs and rbfs all store into'
    echo 'files of that disk through its page cache (none of them syncs here), so a FUSE'
    # shellcheck disable=SC2016
    echo 'target can beat `raw`. The ratio columns are the ones to read: the machine is'
    echo 'shared, and absolute figures move from run to run.'
    echo
    make_table
    echo
    echo "![rbfs and peers, relative to passthrough](benchmarks.png)"
    echo
    echo "Notes:"
    echo
    make_notes
    if [[ -n ${BENCH_NOISE_NOTE:-} ]]; then echo "- $BENCH_NOISE_NOTE"; fi
    echo
  } >"$section"
  local tmp="$doc.run-sh.tmp"
  if [[ -f $doc ]] && grep -qxF "$SECTION_HEADING" "$doc"; then
    # Drop the old section: from its heading up to the next "## " heading.
    awk -v h="$SECTION_HEADING" -v s="$section" '
      $0 == h { while ((getline l < s) > 0) print l; skip = 1; next }
      skip && /^## / { skip = 0 }
      !skip { print }' "$doc" >"$tmp"
  else
    { [[ -f $doc ]] && cat "$doc" && echo; cat "$section"; } >"$tmp"
  fi
  # Keep exactly one trailing newline.
  sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp" >"$doc"
  rm -f "$tmp"
  log "wrote $doc"
}
