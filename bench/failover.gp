# The failover timeline from bench/cmd/failover's timeline.csv and
# cutwin.csv: one panel per mode, each request of the client on A (one
# every 100 ms) as a point at the time it was sent, at the height of what
# became of it; the cuts of the WireGuard path shaded. Called by
# bench/failover.sh as
#   gnuplot -e "dir='results'; png='timeline.png'" bench/failover.gp
set terminal pngcairo size 1400,900 font ",11"
set output png
set datafile separator ","
set yrange [-0.6:3.6]
set ytics ("lost" 0, "refused" 1, "over the Internet" 2, "through the tunnel" 3)
set grid xtics
set key off
set xrange [-2.5:*]
set xlabel "seconds since the first cut" offset 0,0.5

tl(mode) = sprintf("< awk -F, '$1==\"%s\"' %s/timeline.csv", mode, dir)
win(mode) = sprintf("< awk -F, '$1==\"%s\"' %s/cutwin.csv", mode, dir)
color(code) = code == 3 ? 0x1f4e9c : code == 2 ? 0x27ae60 : code == 1 ? 0xe67e22 : 0xc0392b

# The modes that were run (-modes), in the order they ran.
modes = system(sprintf("awk -F, 'NR > 1 && !seen[$1]++ {print $1}' %s/timeline.csv | tr '\\n' ' '", dir))
set multiplot layout words(modes),1
do for [mode in modes] {
	set title (mode eq "wg-quick" ? "wg-quick (never fails over)" : sprintf("wg-transparent, Fallback %s (default health settings)", mode))
	plot win(mode) using (($2+$3)/2):(1.5):(($3-$2)/2):(2.1) with boxxyerror fs solid 0.15 noborder lc rgb "#c0392b", \
	     tl(mode) using 2:3:(color($3)) with points pt 7 ps 0.6 lc rgb variable
}
unset multiplot
