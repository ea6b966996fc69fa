// Package portproxy copies TCP connections and UDP datagrams from a host
// socket to a container's address, in user space.
//
// hull publishes ports with nftables DNAT, in the kernel. One case the
// kernel cannot do: a client on the host dialing [::1]:PORT. A packet from
// ::1 may never leave the loopback device (IPv6 has no route_localnet
// switch), so DNAT to a container's address would be dropped. hull
// listens on [::]:PORT itself (DNAT takes the other IPv6 addresses' packets
// first) and relays each connection with this proxy, as docker-proxy does
// for every published port. The second case: IPv6 clients of a container
// that has only an IPv4 address, since NAT does not translate families.
//
// Every goroutine a Proxy starts is waited for by Close.
//
// Kernel interfaces: none beyond ordinary sockets.
package portproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Dialer opens the upstream side of one relayed connection. The caller
// decides in which network namespace the socket is created.
type Dialer func() (net.Conn, error)

// Proxy relays from one listening socket until Close.
type Proxy struct {
	closeOnce sync.Once
	closer    io.Closer
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closed    bool
}

func newProxy(c io.Closer) *Proxy {
	return &Proxy{closer: c, conns: map[net.Conn]struct{}{}}
}

// track records a live connection so Close can cut it; it reports false
// once the proxy is closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops accepting, cuts every relayed connection and waits for all
// of the proxy's goroutines. It is safe to call more than once.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		err = p.closer.Close()
		p.wg.Wait()
	})
	return err
}

// TCP relays every connection accepted on l to a connection from dial.
func TCP(l net.Listener, dial Dialer) *Proxy {
	p := newProxy(l)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // EMFILE and friends: back off
				continue
			}
			if !p.track(c) {
				c.Close()
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.untrack(c)
				defer c.Close()
				up, err := dial()
				if err != nil {
					return // the client sees the connection close
				}
				if !p.track(up) {
					up.Close()
					return
				}
				defer p.untrack(up)
				defer up.Close()
				pipe(c, up)
			}()
		}
	}()
	return p
}

// pipe copies both ways; when one side ends, the write half of the other is
// shut down so that half-closed protocols (HTTP/1.0, nc) still finish.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
}

// UDPIdle is how long a UDP flow without traffic keeps its upstream socket.
const UDPIdle = 60 * time.Second

// UDP relays datagrams arriving on pc: each client address gets its own
// upstream socket from dial, and replies on it go back to that client.
func UDP(pc net.PacketConn, dial Dialer) *Proxy {
	p := newProxy(pc)
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			key := from.String()
			mu.Lock()
			up := flows[key]
			mu.Unlock()
			if up == nil {
				if up, err = dial(); err != nil {
					continue
				}
				if !p.track(up) {
					up.Close()
					return
				}
				mu.Lock()
				flows[key] = up
				mu.Unlock()
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					defer func() {
						mu.Lock()
						delete(flows, key)
						mu.Unlock()
						p.untrack(up)
						up.Close()
					}()
					rbuf := make([]byte, 64<<10)
					for {
						up.SetReadDeadline(time.Now().Add(UDPIdle))
						n, err := up.Read(rbuf)
						if err != nil {
							return
						}
						pc.WriteTo(rbuf[:n], from)
					}
				}()
			}
			up.Write(buf[:n])
		}
	}()
	return p
}
