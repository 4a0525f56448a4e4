package promptevtest

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// inMemoryHost is the host of an in-memory server's URL. The .invalid
// top-level domain never resolves, so a client that is not given Client or
// Transport fails at once instead of reaching a real host.
const inMemoryHost = "promptevtest.invalid"

// pipeListener is an in-memory net.Listener: each DialContext creates a
// net.Pipe and hands the server end to Accept. net.Pipe blocks on channels,
// which a testing/synctest bubble counts as durably blocked, so fake time can
// advance while a client waits for the server and the other way round.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ net.Listener = (*pipeListener)(nil)

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next DialContext.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and makes later dials fail; open connections are not
// affected.
func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the listener's fake address.
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener; network and address are ignored.
func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	var err error
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = client.Close()
	_ = server.Close()
	return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr{}, Err: err}
}

// pipeAddr is the address of a pipeListener.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return inMemoryHost }

// memServer is the in-memory transport of a Server made by NewInMemoryServer.
type memServer struct {
	ln        *pipeListener
	srv       *http.Server
	transport *http.Transport
	served    chan struct{} // closed when Serve has returned
	conns     sync.WaitGroup
}

func newMemServer(h http.Handler) *memServer {
	m := &memServer{ln: newPipeListener(), served: make(chan struct{})}
	m.srv = &http.Server{
		Handler: h,
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				m.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				m.conns.Done()
			}
		},
	}
	m.transport = &http.Transport{
		DialContext:         m.ln.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		// No proxy from the environment: every request goes down a pipe.
		Proxy: nil,
	}
	go func() {
		defer close(m.served)
		_ = m.srv.Serve(m.ln)
	}()
	return m
}

// close shuts the server and its client transport down and waits until
// every server-side goroutine has finished.
func (m *memServer) close() {
	_ = m.srv.Close() // closes the listener and every connection
	<-m.served
	m.transport.CloseIdleConnections()
	m.conns.Wait()
}
