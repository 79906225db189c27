package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
)

// manPage is the command's manual page, wg-transparent(8).
const manPage = "wg-transparent.8"

// manEntries reads a troff man page's tagged paragraphs: for each
// section (.SH), the words of the tag line after each .TP, with troff's
// escapes and font macros removed.
func manEntries(text string) map[string][]string {
	entries := map[string][]string{}
	section := ""
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if s, ok := strings.CutPrefix(line, ".SH "); ok {
			section = strings.Trim(s, `"`)
			continue
		}
		if line != ".TP" || i+1 >= len(lines) {
			continue
		}
		tag := strings.ReplaceAll(lines[i+1], `\-`, "-")
		tag = regexp.MustCompile(`^\.[A-Z]+ `).ReplaceAllString(tag, "")
		entries[section] = append(entries[section], strings.FieldsFunc(tag, func(r rune) bool { return r == ' ' || r == '"' || r == ',' || r == '|' })...)
	}
	return entries
}

// optionPattern finds the options the usage text lists.
var optionPattern = regexp.MustCompile(`(?m)^\s+(--?[a-z][a-z-]*)`)

// TestManPage (issue 21, item 7): wg-transparent(8) has an entry for
// every verb the command accepts, every key a file may have (wgquick's
// list), every option the usage lists, every signal the command handles
// and every exit status, all taken from the code, so that a new verb, key,
// flag or signal without its entry fails here; and groff formats it
// without a warning.
func TestManPage(t *testing.T) {
	data, err := os.ReadFile(manPage)
	if err != nil {
		t.Fatal(err)
	}
	entries := manEntries(string(data))
	expect := func(section string, names []string) {
		t.Helper()
		if len(names) == 0 {
			t.Fatalf("no %s to look for", section)
		}
		for _, n := range names {
			if !slices.Contains(entries[section], n) {
				t.Errorf("%s: no entry for %q under %s (it has %v)", manPage, n, section, entries[section])
			}
		}
	}
	expect("COMMANDS", verbs)
	iface, peer := wgquick.Keys()
	expect("CONFIGURATION", append(iface, peer...))
	_, opts, _ := strings.Cut(usage, "Options:")
	var options []string
	for _, m := range optionPattern.FindAllStringSubmatch(opts, -1) {
		options = append(options, m[1])
	}
	expect("OPTIONS", append(options, "--version", "--help"))
	var signals []string
	for _, s := range append(slices.Clone(stopSignals), reloadSignal, syscall.SIGPIPE) {
		signals = append(signals, unix.SignalName(s.(syscall.Signal)))
	}
	expect("SIGNALS", signals)
	expect("EXIT STATUS", []string{strconv.Itoa(exitOK), strconv.Itoa(exitDrift), strconv.Itoa(exitError)})

	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("groff is missing: the page's formatting is not checked")
		return
	}
	out, err := exec.Command(groff, "-man", "-ww", "-z", manPage).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}
