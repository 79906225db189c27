package resolve

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// ednsUDPSize is the UDP payload size a query offers (EDNS0, RFC 6891):
	// 1232 bytes fits in the IPv6 minimum MTU without fragments (the value
	// of DNS Flag Day 2020). A larger answer comes truncated and is asked
	// again over TCP.
	ednsUDPSize = 1232
	// maxMessage is the largest DNS message: TCP frames have a 16-bit
	// length, and no UDP datagram is larger.
	maxMessage = 65535
	// maxCNAMEs bounds the CNAME chain followed inside one answer; real
	// chains (CDNs) have two or three links, and a longer one is a loop or
	// a hostile answer.
	maxCNAMEs = 8
	// maxTTL is the largest TTL taken as is: RFC 2181 section 8 says a
	// value with the top bit set is to be taken as zero.
	maxTTL = 1<<31 - 1
)

// errMismatch marks a message that is not the answer to the query sent
// (another ID, another question, or not a response). Over UDP such a
// message is dropped and the wait goes on, as a forged one might be.
var errMismatch = errors.New("message does not answer the query")

// packQuery builds a query with the given ID for one question, recursion
// desired, offering ednsUDPSize.
func packQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(ednsUDPSize, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// reply is what one response says about one question.
type reply struct {
	rcode     dnsmessage.RCode
	truncated bool
	addrs     []netip.Addr // of the question's type, at the end of the CNAME chain
	ttl       uint32       // the smallest TTL of the records used (chain and addresses)
	records   bool         // whether any record was used, so that ttl means something
	end       string       // the name the chain ended at, for messages
}

// record is one answer record that matters: an address or a CNAME.
type record struct {
	name  string // lower case, with the trailing dot
	typ   dnsmessage.Type
	ttl   uint32
	addr  netip.Addr
	cname string // lower case, with the trailing dot
}

// parseReply reads msg as the response to the query with the given ID and
// question. It is errMismatch if it is not that response; a truncated
// response is returned with truncated set and nothing else read.
func parseReply(msg []byte, id uint16, q dnsmessage.Question) (reply, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return reply{}, fmt.Errorf("%w: %w", errMismatch, err)
	}
	if !h.Response || h.ID != id {
		return reply{}, fmt.Errorf("%w: ID %d, want %d", errMismatch, h.ID, id)
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return reply{}, fmt.Errorf("%w: %w", errMismatch, err)
	}
	if len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return reply{}, fmt.Errorf("%w: question %v, want %v", errMismatch, qs, q)
	}
	r := reply{rcode: h.RCode, truncated: h.Truncated}
	if h.Truncated || h.RCode != dnsmessage.RCodeSuccess && h.RCode != dnsmessage.RCodeNameError {
		return r, nil
	}
	recs, err := answerRecords(&p)
	if err != nil {
		return reply{}, fmt.Errorf("read the answer: %w", err)
	}
	if err := r.follow(recs, strings.ToLower(q.Name.String()), q.Type); err != nil {
		return reply{}, err
	}
	return r, nil
}

// answerRecords reads the answer section's CNAME, A and AAAA records and
// skips the others.
func answerRecords(p *dnsmessage.Parser) ([]record, error) {
	var recs []record
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		rec := record{name: strings.ToLower(h.Name.String()), typ: h.Type, ttl: h.TTL}
		if rec.ttl > maxTTL {
			rec.ttl = 0
		}
		if h.Class != dnsmessage.ClassINET {
			err = p.SkipAnswer()
			if err != nil {
				return nil, err
			}
			continue
		}
		switch h.Type {
		case dnsmessage.TypeA:
			a, err := p.AResource()
			if err != nil {
				return nil, err
			}
			rec.addr = netip.AddrFrom4(a.A)
		case dnsmessage.TypeAAAA:
			a, err := p.AAAAResource()
			if err != nil {
				return nil, err
			}
			rec.addr = netip.AddrFrom16(a.AAAA)
		case dnsmessage.TypeCNAME:
			c, err := p.CNAMEResource()
			if err != nil {
				return nil, err
			}
			rec.cname = strings.ToLower(c.CNAME.String())
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, err
			}
			continue
		}
		recs = append(recs, rec)
	}
}

// follow walks the CNAME chain from name through recs and takes the
// addresses of type typ at its end. Records of other names, off the
// chain, are ignored: a server says nothing about them by answering this
// question.
func (r *reply) follow(recs []record, name string, typ dnsmessage.Type) error {
	r.end = name
	seen := map[string]bool{}
	for hops := 0; ; hops++ {
		seen[name] = true
		var next string
		for _, rec := range recs {
			if rec.name != name {
				continue
			}
			switch {
			case rec.typ == typ:
				r.addrs = append(r.addrs, rec.addr)
				r.use(rec.ttl)
			case rec.typ == dnsmessage.TypeCNAME && next == "":
				next = rec.cname
				r.use(rec.ttl)
			}
		}
		if len(r.addrs) > 0 || next == "" {
			r.end = name
			return nil
		}
		if seen[next] {
			return fmt.Errorf("%w: the CNAME chain loops at %s", ErrRefusedAnswer, strings.TrimSuffix(next, "."))
		}
		if hops == maxCNAMEs {
			return fmt.Errorf("%w: the CNAME chain is longer than %d links", ErrRefusedAnswer, maxCNAMEs)
		}
		name = next
	}
}

// use counts a record's TTL in the reply's minimum.
func (r *reply) use(ttl uint32) {
	if !r.records || ttl < r.ttl {
		r.ttl = ttl
	}
	r.records = true
}
