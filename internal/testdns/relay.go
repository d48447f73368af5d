package testdns

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// relay makes a named reachable at a loopback address other than 127.0.0.1. named listens only on addresses
// configured on an interface, and lo carries just 127.0.0.1 (adding aliases needs privileges and changes the
// machine for everyone), while any process may bind any 127/8 address: so the test process listens at ip:port,
// UDP and TCP, and forwards every query to named on 127.0.0.1. Servers of a hierarchy reach each other through
// their relays too, since BIND's "port" option sends their own queries to the shared port.
type relay struct {
	udp     net.PacketConn
	tcp     net.Listener
	backend atomic.Pointer[string]
	once    sync.Once
	done    chan struct{}
	ctx     context.Context // cancelled by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func listenRelay(ip string, port int) (*relay, error) {
	var lc net.ListenConfig
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	u, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		_ = u.Close()
		return nil, err
	}
	r := &relay{udp: u, tcp: l, done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	go r.serveUDP()
	go r.serveTCP()
	return r, nil
}

// setBackend says where named listens now (a new port after a failed start).
func (r *relay) setBackend(addr string) { r.backend.Store(&addr) }

func (r *relay) close() {
	r.once.Do(func() {
		close(r.done)
		r.cancel()
		_ = r.udp.Close()
		_ = r.tcp.Close()
		r.wg.Wait()
	})
}

func (r *relay) serveUDP() {
	defer r.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := r.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		backend := r.backend.Load()
		if backend == nil {
			continue
		}
		query := append([]byte(nil), buf[:n]...)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			// One socket per query keeps answers apart without parsing them.
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(r.ctx, "udp", *backend)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				select {
				case <-r.done:
					_ = c.Close()
				case <-stop:
				}
			}()
			if _, err := c.Write(query); err != nil {
				return
			}
			answer := make([]byte, 65535)
			m, err := c.Read(answer)
			if err != nil {
				return
			}
			_, _ = r.udp.WriteTo(answer[:m], from)
		}()
	}
}

func (r *relay) serveTCP() {
	defer r.wg.Done()
	for {
		in, err := r.tcp.Accept()
		if err != nil {
			return
		}
		backend := r.backend.Load()
		if backend == nil {
			_ = in.Close()
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			out, err := (&net.Dialer{Timeout: time.Second}).DialContext(r.ctx, "tcp", *backend)
			if err != nil {
				_ = in.Close()
				return
			}
			// Either side ending the connection, or the relay closing, ends both halves.
			var closeBoth sync.Once
			end := func() { closeBoth.Do(func() { _ = in.Close(); _ = out.Close() }) }
			stop := make(chan struct{})
			go func() {
				select {
				case <-r.done:
					end()
				case <-stop:
				}
			}()
			copied := make(chan struct{})
			go func() { _, _ = io.Copy(out, in); end(); close(copied) }()
			_, _ = io.Copy(in, out)
			end()
			<-copied
			close(stop)
		}()
	}
}
