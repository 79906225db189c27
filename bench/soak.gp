# The soak's resources over time from bench/cmd/soak's samples.csv: RSS
# and the Go heap after a collection (MiB, left), goroutines and open
# file descriptors (right), with the drift repairs done (top panel). The
# vertical line is the end of warm-up, the baseline the soak compares the
# end with. Called by bench/soak.sh as
#   gnuplot -e "csv='samples.csv'; png='soak.png'" bench/soak.gp
set terminal pngcairo size 1400,900 font ",11"
set output png
set datafile separator ","
set key autotitle columnhead
set grid
set xlabel "seconds" offset 0,0.5
# The baseline: the sample at the end of the first fifth of the rounds.
warm = system(sprintf("awk -F, 'NR > 1 {r[NR] = $2; t[NR] = $1; n = NR} END {w = int(r[n] / 5) - 1; for (i = 2; i <= n; i++) if (r[i] >= w) {print t[i]; exit}}' %s", csv))

set multiplot layout 2,1
set title "memory"
set ylabel "MiB"
set y2label "goroutines, open fds"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set arrow 1 from first warm, graph 0 to first warm, graph 1 nohead dt 2 lw 2 lc rgb "#7f8c8d"
set label 1 "end of warm-up" at first warm, graph 0.08 offset 0.5,0
set key below
plot csv using 1:5 with lines lw 2 lc rgb "#1f4e9c" title "RSS", \
     csv using 1:6 with lines lw 2 lc rgb "#27ae60" title "Go heap after GC", \
     csv using 1:3 axes x1y2 with steps lw 2 lc rgb "#e67e22" title "goroutines", \
     csv using 1:4 axes x1y2 with steps lw 2 dt 2 lc rgb "#c0392b" title "open fds"
set title "what the soak did"
unset y2label
unset y2tics
set ylabel "count"
set logscale y
set yrange [1:*]
plot csv using 1:($7+1) with lines lw 2 lc rgb "#1f4e9c" title "drift repairs", \
     csv using 1:($8+1) with lines lw 2 lc rgb "#27ae60" title "DNS changes", \
     csv using 1:($9+1) with lines lw 2 lc rgb "#e67e22" title "failovers and failbacks", \
     csv using 1:($10+1) with lines lw 2 lc rgb "#8e44ad" title "reloads", \
     csv using 1:($11+1) with lines lw 2 lc rgb "#7f8c8d" title "foreign route changes", \
     csv using 1:($12+1) with lines lw 2 dt 2 lc rgb "#c0392b" title "resyncs after an overflow"
unset multiplot
