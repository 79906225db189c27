package resolve

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// rr is an answer record for a crafted response: an address or, with
// cname set, a CNAME.
type rr struct {
	name, cname string
	addr        string
	ttl         uint32
}

// response builds a response to q with the given ID, RCODE and answers.
func response(t *testing.T, id uint16, q dnsmessage.Question, rcode dnsmessage.RCode, answers ...rr) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RCode: rcode})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(q))
	must(b.StartAnswers())
	for _, a := range answers {
		h := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(a.name), Class: dnsmessage.ClassINET, TTL: a.ttl}
		switch addr := netip.MustParseAddr(orZero(a.addr)); {
		case a.cname != "":
			must(b.CNAMEResource(h, dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(a.cname)}))
		case addr.Is4():
			must(b.AResource(h, dnsmessage.AResource{A: addr.As4()}))
		default:
			must(b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: addr.As16()}))
		}
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

func orZero(s string) string {
	if s == "" {
		return "0.0.0.0"
	}
	return s
}

func question(name string, typ dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}
}

// TestParseReply: CNAME chains are followed inside the answer, records off
// the chain and of the other type are ignored, the TTL is the chain's
// smallest, and messages that do not answer the query are mismatches.
func TestParseReply(t *testing.T) {
	qA := question("app.example.com.", dnsmessage.TypeA)
	for _, tt := range []struct {
		desc  string
		msg   []byte
		addrs []string
		ttl   uint32
		err   error
		text  string
	}{
		{"addresses", response(t, 7, qA, dnsmessage.RCodeSuccess,
			rr{name: "app.example.com.", addr: "192.0.2.1", ttl: 60},
			rr{name: "App.Example.com.", addr: "192.0.2.2", ttl: 30}),
			[]string{"192.0.2.1", "192.0.2.2"}, 30, nil, ""},
		{"chain", response(t, 7, qA, dnsmessage.RCodeSuccess,
			rr{name: "app.example.com.", cname: "lb.example.net.", ttl: 20},
			rr{name: "lb.example.net.", cname: "edge.cdn.example.", ttl: 300},
			rr{name: "edge.cdn.example.", addr: "198.51.100.7", ttl: 60},
			rr{name: "other.example.", addr: "203.0.113.9", ttl: 1},     // off the chain
			rr{name: "edge.cdn.example.", addr: "2001:db8::7", ttl: 1}), // not the type asked
			[]string{"198.51.100.7"}, 20, nil, ""},
		{"nxdomain", response(t, 7, qA, dnsmessage.RCodeNameError), nil, 0, nil, ""},
		{"loop", response(t, 7, qA, dnsmessage.RCodeSuccess,
			rr{name: "app.example.com.", cname: "b.example.", ttl: 20},
			rr{name: "b.example.", cname: "app.example.com.", ttl: 20}),
			nil, 0, ErrRefusedAnswer, "loops at app.example.com"},
		{"wrong ID", response(t, 8, qA, dnsmessage.RCodeSuccess, rr{name: "app.example.com.", addr: "192.0.2.1"}),
			nil, 0, errMismatch, "ID 8, want 7"},
		{"wrong question", response(t, 7, question("evil.example.", dnsmessage.TypeA), dnsmessage.RCodeSuccess,
			rr{name: "evil.example.", addr: "192.0.2.1"}), nil, 0, errMismatch, "question"},
		{"wrong type", response(t, 7, question("app.example.com.", dnsmessage.TypeAAAA), dnsmessage.RCodeSuccess),
			nil, 0, errMismatch, "question"},
		{"garbage", []byte{1, 2, 3}, nil, 0, errMismatch, ""},
	} {
		r, err := parseReply(tt.msg, 7, qA)
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("%s: parseReply = %v, want %v saying %q", tt.desc, err, tt.err, tt.text)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: parseReply: %v", tt.desc, err)
			continue
		}
		var got []string
		for _, a := range r.addrs {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tt.addrs) || r.ttl != tt.ttl {
			t.Errorf("%s: addresses %v TTL %d, want %v TTL %d", tt.desc, got, r.ttl, tt.addrs, tt.ttl)
		}
	}

	long := []rr{}
	for i := range maxCNAMEs + 2 {
		long = append(long, rr{name: chainName(i), cname: chainName(i + 1), ttl: 5})
	}
	long[0].name = "app.example.com."
	if _, err := parseReply(response(t, 7, qA, dnsmessage.RCodeSuccess, long...), 7, qA); !errors.Is(err, ErrRefusedAnswer) {
		t.Errorf("a chain of %d links: %v, want ErrRefusedAnswer", len(long), err)
	}

	truncated := response(t, 7, qA, dnsmessage.RCodeSuccess)
	truncated[2] |= 0x02 // TC
	if r, err := parseReply(truncated, 7, qA); err != nil || !r.truncated {
		t.Errorf("truncated: %+v, %v; want truncated", r, err)
	}
}

func chainName(i int) string { return "c" + string(rune('a'+i)) + ".example." }

// TestAnswer: the A and AAAA replies combine into sorted, unique
// addresses with the smallest TTL; no addresses, refused addresses and too
// many addresses are errors naming the name.
func TestAnswer(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var as []netip.Addr
		for _, s := range ss {
			as = append(as, netip.MustParseAddr(s))
		}
		return as
	}
	name := "app.example.com"
	end := name + "."
	var many []netip.Addr
	for i := range MaxAddrsPerName + 1 {
		many = append(many, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	for _, tt := range []struct {
		desc    string
		a, aaaa reply
		want    Answer
		err     error
		text    string
	}{
		{"both", reply{addrs: addrs("192.0.2.2", "10.1.2.3", "192.0.2.2"), ttl: 60, records: true, end: end},
			reply{addrs: addrs("2001:db8::1"), ttl: 40, records: true, end: end},
			Answer{Name: name, Addrs: addrs("10.1.2.3", "192.0.2.2", "2001:db8::1"), TTL: 40 * time.Second}, nil, ""},
		{"A only", reply{addrs: addrs("192.0.2.2"), ttl: 0, records: true, end: end}, reply{end: end},
			Answer{Name: name, Addrs: addrs("192.0.2.2"), TTL: 0}, nil, ""},
		{"nxdomain", reply{rcode: dnsmessage.RCodeNameError, end: end}, reply{rcode: dnsmessage.RCodeNameError, end: end},
			Answer{}, ErrNoAddresses, "app.example.com: name has no addresses: the name does not exist"},
		{"nodata", reply{end: end}, reply{end: end}, Answer{}, ErrNoAddresses, "has no A or AAAA records"},
		{"dangling alias", reply{records: true, end: "lb.example.net."}, reply{records: true, end: "lb.example.net."},
			Answer{}, ErrNoAddresses, "alias of lb.example.net."},
		{"loopback", reply{addrs: addrs("192.0.2.1", "127.0.0.1"), end: end}, reply{end: end},
			Answer{}, ErrRefusedAnswer, "app.example.com: refused answer: the answer has 127.0.0.1, a loopback address"},
		{"v6 loopback", reply{end: end}, reply{addrs: addrs("::1"), end: end}, Answer{}, ErrRefusedAnswer, "::1, a loopback"},
		{"unspecified", reply{addrs: addrs("0.0.0.0"), end: end}, reply{end: end}, Answer{}, ErrRefusedAnswer, "unspecified"},
		{"link-local", reply{addrs: addrs("169.254.169.254"), end: end}, reply{end: end}, Answer{}, ErrRefusedAnswer, "link-local"},
		{"v6 link-local", reply{end: end}, reply{addrs: addrs("fe80::1"), end: end}, Answer{}, ErrRefusedAnswer, "link-local"},
		{"multicast", reply{addrs: addrs("224.0.0.251"), end: end}, reply{end: end}, Answer{}, ErrRefusedAnswer, "multicast"},
		{"v6 multicast", reply{end: end}, reply{addrs: addrs("ff02::1"), end: end}, Answer{}, ErrRefusedAnswer, "multicast"},
		{"broadcast", reply{addrs: addrs("255.255.255.255"), end: end}, reply{end: end}, Answer{}, ErrRefusedAnswer, "broadcast"},
		{"mapped", reply{end: end}, reply{addrs: addrs("::ffff:192.0.2.1"), end: end}, Answer{}, ErrRefusedAnswer, "IPv4-mapped"},
		{"too many", reply{addrs: many, end: end}, reply{end: end}, Answer{}, ErrRefusedAnswer, "has 257 addresses, more than the 256"},
	} {
		got, err := answer(name, []reply{tt.a, tt.aaaa})
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("%s: answer = %v, want %v saying %q", tt.desc, err, tt.err, tt.text)
			}
			continue
		}
		if err != nil || got.Name != tt.want.Name || got.TTL != tt.want.TTL || !slices.Equal(got.Addrs, tt.want.Addrs) {
			t.Errorf("%s: answer = %+v, %v; want %+v", tt.desc, got, err, tt.want)
		}
	}
	// private ranges are fine
	if _, err := answer(name, []reply{{addrs: addrs("10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1"), end: end}, {addrs: addrs("fd00::1"), end: end}}); err != nil {
		t.Errorf("private addresses: %v", err)
	}
}

// TestPackQuery: a query reads back as one question with recursion
// desired and an EDNS0 record offering ednsUDPSize.
func TestPackQuery(t *testing.T) {
	q := question("app.example.com.", dnsmessage.TypeAAAA)
	msg, err := packQuery(42, q)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	if m.ID != 42 || m.Response || !m.RecursionDesired || len(m.Questions) != 1 || m.Questions[0] != q {
		t.Errorf("query = %+v", m)
	}
	if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT || m.Additionals[0].Header.Class != ednsUDPSize {
		t.Errorf("additionals = %+v, want one OPT offering %d", m.Additionals, ednsUDPSize)
	}
}
