// Command snatbench measures the cost of the library's SNAT rules held
// three ways (issue 7), inside network namespaces it creates and deletes:
//
//	A. the library's chain WGT-wg0 in the nat table, one iptables-restore
//	   --noflush per change, one iptables-save -t nat per read
//	   (iptables-nft, and iptables-legacy if the kernel has it);
//	B. native nftables rules, one per destination, through netlink
//	   (github.com/google/nftables), one transaction per change;
//	C. native nftables, one rule and an interval set of destinations.
//
// For each N it times write (from nothing), read back (and decode),
// replace 10% of the destinations, and delete; the mechanisms run
// interleaved within each repetition, in a rotating order. It also checks
// that every mechanism really translates the source address (a UDP packet
// across a veth pair), and saves what `nft list ruleset` shows.
//
//	go build -o snatbench ./bench/cmd/snatbench && sudo ./snatbench -out bench/results/snat
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		nList    = flag.String("n", "1,10,100,1000,10000", "numbers of destinations")
		reps     = flag.Int("reps", 11, "repetitions for N up to 1000 (after one untimed warm-up)")
		repsBig  = flag.Int("reps-big", 5, "repetitions for N above 1000")
		out      = flag.String("out", "bench/results/snat", "directory for the results")
		legacy   = flag.String("legacy", "auto", "also iptables-legacy: auto (if the kernel has it), yes, no")
		lasting  = flag.Bool("lasting", false, "one lasting netlink socket per namespace instead of one per operation (the google/nftables default)")
		verify   = flag.Bool("verify", true, "check that the rules translate packets, at N=1 and N=1000, and save nft list output")
		onlyVer  = flag.Bool("verify-only", false, "only the checks, no timings")
		sockbuf  = flag.Int("sockbuf", 16<<20, "netlink socket send and receive buffer, forced (0: the kernel default, which fails big batches)")
		cpuprof  = flag.String("cpuprofile", "", "write a Go CPU profile of the timed part to this file")
		leadZero = flag.Bool("leading-zero", false, "start the interval set with an IntervalEnd element at 0.0.0.0, as nft 1.0.6 does")
	)
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "snatbench creates network namespaces: run it as root")
		os.Exit(2)
	}
	var ns []int
	for _, s := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad -n %q\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\n%v: deleting the namespaces\n", s)
		cleanupAll()
		os.Exit(130)
	}()

	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintln(os.Stderr, "panic:", r)
				code = 1
			}
			cleanupAll()
		}()
		if err := run(ns, *reps, *repsBig, *out, *legacy, *lasting, *verify, *onlyVer, *leadZero, *sockbuf); err != nil {
			fmt.Fprintln(os.Stderr, "snatbench:", err)
			code = 1
		}
	}()
	if *cpuprof != "" {
		pprof.StopCPUProfile()
	}
	os.Exit(code)
}

type config struct {
	legacy      bool
	lasting     bool
	leadingZero bool
	sockbuf     int
}

func run(ns []int, reps, repsBig int, out, legacyFlag string, lasting, verify, onlyVerify, leadZero bool, sockbuf int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cfg := config{lasting: lasting, leadingZero: leadZero, sockbuf: sockbuf}
	switch legacyFlag {
	case "yes":
		cfg.legacy = true
	case "auto":
		cfg.legacy = legacyWorks()
		fmt.Printf("iptables-legacy: kernel support %v\n", cfg.legacy)
	}

	if verify || onlyVerify {
		if err := verifyAll(cfg, out); err != nil {
			return fmt.Errorf("verification: %w", err)
		}
	}
	if onlyVerify {
		return nil
	}

	if err := execOverhead(out, reps); err != nil {
		return err
	}
	raw, err := os.Create(filepath.Join(out, "raw.csv"))
	if err != nil {
		return err
	}
	defer raw.Close()
	fmt.Fprintln(raw, "n,rep,warmup,mechanism,op,ms,processes,nl_messages,nl_bytes,nl_requests,child_cpu_ms,cpu_ms,build_ms,load1,unix_time")
	var samples []sample
	for _, n := range ns {
		r := reps
		if n > 1000 {
			r = repsBig
		}
		fmt.Printf("N=%d: %d repetitions after a warm-up; load %s\n", n, r, loadavg())
		s, err := benchN(cfg, n, r, raw)
		samples = append(samples, s...)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
	}
	return writeSummary(out, samples)
}

// legacyWorks tries iptables-legacy's nat table in a throwaway namespace.
func legacyWorks() bool {
	if _, err := exec.LookPath("iptables-legacy-restore"); err != nil {
		return false
	}
	n := newNS("probe")
	defer n.close()
	_, err := n.cmd(nil, "iptables-legacy-save", "-t", "nat")
	if err != nil {
		fmt.Println("iptables-legacy:", err)
	}
	return err == nil
}

// mechanisms makes one namespace per mechanism, so that none sees
// another's tables, and the mechanisms in them.
func mechanisms(cfg config, tag string) ([]mechanism, func(), error) {
	var ms []mechanism
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	add := func(t string, mk func(n *netns) (mechanism, func(), error)) error {
		n := newNS(tag + "-" + t)
		closers = append(closers, n.close)
		m, c, err := mk(n)
		if err != nil {
			return err
		}
		if c != nil {
			closers = append(closers, c)
		}
		ms = append(ms, m)
		return nil
	}
	err := add("ipt-nft", func(n *netns) (mechanism, func(), error) { return &iptMech{ns: n, variant: "nft"}, nil, nil })
	if err == nil && cfg.legacy {
		err = add("ipt-legacy", func(n *netns) (mechanism, func(), error) { return &iptMech{ns: n, variant: "legacy"}, nil, nil })
	}
	if err == nil {
		err = add("nft-rules", func(n *netns) (mechanism, func(), error) {
			b, err := newNFTBase(n, cfg.lasting, cfg.sockbuf)
			if err != nil {
				return nil, nil, err
			}
			return &nftRulesMech{nftBase: b}, b.close, nil
		})
	}
	if err == nil {
		err = add("nft-set", func(n *netns) (mechanism, func(), error) {
			b, err := newNFTBase(n, cfg.lasting, cfg.sockbuf)
			if err != nil {
				return nil, nil, err
			}
			return newSetMech(b, cfg.leadingZero), b.close, nil
		})
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return ms, closeAll, nil
}

type sample struct {
	n         int
	mechanism string
	op        string
	c         cost
}

// benchN runs one untimed warm-up and reps timed repetitions at N
// destinations; in each, every mechanism goes through write, read,
// replace (each variant, alternating the direction) and delete, in an
// order that rotates from one repetition to the next.
func benchN(cfg config, n, reps int, raw *os.File) ([]sample, error) {
	ms, closeAll, err := mechanisms(cfg, "n"+strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	defer closeAll()
	old := destinations(n)
	repl := replaced(old)
	var samples []sample
	for rep := 0; rep <= reps; rep++ {
		load := loadavg()
		for i := range ms {
			m := ms[(i+rep)%len(ms)]
			record := func(op string, c cost) {
				fmt.Fprintf(raw, "%d,%d,%v,%s,%s,%.4f,%d,%d,%d,%d,%.3f,%.3f,%.4f,%s,%d\n", n, rep, rep == 0, m.name(), op,
					float64(c.dur)/1e6, c.procs, c.msgs, c.bytes, c.requests, float64(c.childCPU)/1e6, float64(c.cpu)/1e6, float64(c.build)/1e6, load, time.Now().Unix())
				if rep > 0 {
					samples = append(samples, sample{n, m.name(), op, c})
				}
			}
			fail := func(op string, err error) error { return fmt.Errorf("%s %s (rep %d): %w", m.name(), op, rep, err) }

			c, err := timedCPU(func() (cost, error) { return m.write(old) })
			if err != nil {
				return samples, fail("write", err)
			}
			record("write", c)

			var r readResult
			c, err = timedCPU(func() (c cost, err error) { r, c, err = m.read(); return c, err })
			if err == nil {
				err = sameSet(r.dsts, old)
			}
			if err == nil && !r.jump {
				err = fmt.Errorf("no jump to the chain")
			}
			if err != nil {
				return samples, fail("read", err)
			}
			record("read", c)

			from, to := old, repl
			for _, o := range m.replaces() {
				if o.prepare != nil {
					if err := o.prepare(); err != nil {
						return samples, fail(o.name, err)
					}
				}
				c, err := timedCPU(func() (cost, error) { return o.run(from, to) })
				if err != nil {
					return samples, fail(o.name, err)
				}
				record(o.name, c)
				if r, _, err := m.read(); err != nil || sameSet(r.dsts, to) != nil || !r.jump {
					return samples, fail(o.name, fmt.Errorf("after it: %v %v", err, sameSet(r.dsts, to)))
				}
				from, to = to, from
			}

			c, err = timedCPU(m.remove)
			if err != nil {
				return samples, fail("delete", err)
			}
			record("delete", c)
			if err := m.empty(); err != nil {
				return samples, fail("delete", err)
			}
		}
		raw.Sync()
	}
	return samples, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// execOverhead times the same iptables-nft-save -t nat spawned from a
// thread inside the namespace (as the library and this benchmark do) and
// through `ip netns exec` (a second process, which also makes a mount
// namespace and remounts /sys), interleaved.
func execOverhead(out string, reps int) error {
	n := newNS("exec")
	defer n.close()
	var direct, viaIP []time.Duration
	for i := 0; i <= reps; i++ {
		start := time.Now()
		if _, err := n.cmd(nil, "iptables-nft-save", "-t", "nat"); err != nil {
			return err
		}
		d := time.Since(start)
		start = time.Now()
		if o, err := exec.Command("ip", "netns", "exec", n.Name, "iptables-nft-save", "-t", "nat").CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns exec: %w: %s", err, o)
		}
		v := time.Since(start)
		if i > 0 { // the first is a warm-up
			direct, viaIP = append(direct, d), append(viaIP, v)
		}
	}
	slices.Sort(direct)
	slices.Sort(viaIP)
	s := fmt.Sprintf("iptables-nft-save -t nat in an empty namespace, %d repetitions, ms median (min–max):\n"+
		"  spawned from a thread in the namespace: %s (%s–%s)\n  through ip netns exec:                 %s (%s–%s)\n",
		reps, ms(median(direct)), ms(direct[0]), ms(direct[len(direct)-1]), ms(median(viaIP)), ms(viaIP[0]), ms(viaIP[len(viaIP)-1]))
	fmt.Print(s)
	return os.WriteFile(filepath.Join(out, "exec-overhead.txt"), []byte(s), 0o644)
}

// timedCPU runs f and adds to its cost the CPU time (user and system, all
// threads) this process spent meanwhile, and its children's. Wall time
// suffers from the other work on a shared machine; CPU time much less.
func timedCPU(f func() (cost, error)) (cost, error) {
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	c, err := f()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	self := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	c.cpu = self + c.childCPU
	return c, err
}
