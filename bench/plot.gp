# Log-log time versus N from wgbench's summary.csv: one panel per SNAT
# mode, one line per implementation and operation, the bars spanning the
# repetitions' minimum and maximum. Called by bench/run.sh as
#   gnuplot -e "summary='summary.csv'; png='out.png'" bench/plot.gp
set terminal pngcairo size 1400,720 font ",11"
set output png
set datafile separator ","
set logscale xy
set xrange [0.7:14000]
set format y "10^{%L}"
set xlabel "N (transparent destinations)" offset 0,0.6
set key height 1
set ylabel "seconds (median, min–max bars)"
set grid
set key below maxrows 4 font ",10" spacing 1.1
set yrange [5e-4:300]

# sel keeps the rows of one series that were measured.
sel(impl, snat, op) = sprintf("< awk -F, '$1==\"%s\" && $2==\"%s\" && $4==\"%s\" && $5==\"ok\"' %s", impl, snat, op, summary)

set multiplot layout 1,2
do for [snat in "off outbound"] {
	set title sprintf("SNAT %s", snat)
	plot \
		sel("wg-quick", snat, "up")     using 3:7:8:9 with yerrorlines lw 2 lc rgb "#c0392b" pt 7 title "wg-quick up", \
		sel("wg-quick", snat, "change") using 3:7:8:9 with yerrorlines lw 2 lc rgb "#e67e22" pt 5 dt 2 title "wg-quick change 10% (down+up)", \
		sel("wg-quick", snat, "down")   using 3:7:8:9 with yerrorlines lw 2 lc rgb "#8e44ad" pt 9 dt 3 title "wg-quick down", \
		sel("library", snat, "up")      using 3:7:8:9 with yerrorlines lw 2 lc rgb "#1f4e9c" pt 7 title "library Up", \
		sel("library", snat, "change")  using 3:7:8:9 with yerrorlines lw 2 lc rgb "#2e86c1" pt 5 dt 2 title "library Up after 10% change", \
		sel("library", snat, "down")    using 3:7:8:9 with yerrorlines lw 2 lc rgb "#16a085" pt 9 dt 3 title "library Down", \
		sel("library", snat, "noop")    using 3:7:8:9 with yerrorlines lw 2 lc rgb "#7f8c8d" pt 13 dt 4 title "library no-op Up"
}
unset multiplot
