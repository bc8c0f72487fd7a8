package faults

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// A stallProxy relays TCP between the daemon and the emulator. While
// stalling, it cuts the emulator's answer mid-stream: once the emulator
// has accepted a new tweet, the proxy passes on half of the next bytes it
// sends (half a TLS record, which the daemon cannot decrypt) and then
// nothing more, while keeping the connection open. The daemon sees a
// server that stopped answering after the tweet went through.
type stallProxy struct {
	ln       net.Listener
	upstream string
	accepted func() int // how many tweets the emulator has accepted

	stalling atomic.Bool
	stalled  atomic.Int64 // answers cut so far
	down     atomic.Bool  // connections are closed as they come: the server is unreachable
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newStallProxy(upstream string, accepted func() int) (*stallProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &stallProxy{ln: ln, upstream: upstream, accepted: accepted}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

func (p *stallProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		before := p.accepted()
		stall := p.stalling.Load()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(up, c)
			up.Close()
		}()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					if stall && p.accepted() > before {
						p.stalled.Add(1)
						c.Write(buf[:n/2])
						io.Copy(io.Discard, up) // hold the connection open, answer nothing
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// setDown makes the server unreachable (every connection closed, new ones
// closed as they come) or reachable again.
func (p *stallProxy) setDown(down bool) {
	p.down.Store(down)
	if !down {
		return
	}
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

// close stops the proxy and every connection it relays.
func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
