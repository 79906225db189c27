package testns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Server is an HTTP server that answers every request with 200 and "ok\n"
// and records the client address of each request.
type Server struct {
	mu      sync.Mutex
	clients []netip.Addr
}

// serve starts a Server listening on port 80 (IPv4 and IPv6) in n; it is
// closed at t.Cleanup.
func serve(t TB, n *NS) *Server {
	t.Helper()
	var ln net.Listener
	err := n.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":80")
		return err
	})
	if err != nil {
		t.Fatalf("listen on :80 in %s: %v", n.Name, err)
	}
	s := &Server{}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	s.mu.Lock()
	s.clients = append(s.clients, client.Addr().Unmap())
	s.mu.Unlock()
	io.WriteString(w, "ok\n")
}

// Clients returns the client addresses of all requests so far, in order.
func (s *Server) Clients() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.clients)
}

// Last returns the client address of the most recent request, or the zero
// Addr if there was none.
func (s *Server) Last() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return netip.Addr{}
	}
	return s.clients[len(s.clients)-1]
}

// Get makes an HTTP GET request to url from inside namespace n, within 5s
// and ctx, and returns the body. The connection's socket is made in n. It
// is an error if the status is not 200 OK.
func Get(ctx context.Context, n *NS, url string) (string, error) {
	tr := &http.Transport{DialContext: n.dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("make request for %s: %w", url, err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read response of %s from %s: %w", url, n.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s from %s: status %s", url, n.Name, resp.Status)
	}
	return string(body), nil
}

// dial connects to addr with a socket made inside n.
func (n *NS) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	d := net.Dialer{FallbackDelay: -1} // no parallel dials: each socket is made on n's thread
	err := n.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
