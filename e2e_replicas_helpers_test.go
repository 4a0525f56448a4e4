package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// The texts of the replica tests' agent.
const (
	// slowQuery starts a turn that streams a step every half second for a
	// minute: long enough to kill its replica in the middle.
	slowQuery = "go slowly"
	// quickAnswer starts the answer to any other query.
	quickAnswer = "Quick answer to: "
	// interruptedNotice is the start of a run's last state when its
	// replica died under it.
	interruptedNotice = "⚠️ This run was interrupted — send your message again."
)

// replicaAgent serves "ops-agent": slowQuery streams for a minute, any other
// query is answered at once. slow counts the turns of slowQuery.
func replicaAgent(t *testing.T, key string) (srv *promptevtest.Server, slow *atomic.Int32) {
	t.Helper()
	slow = new(atomic.Int32)
	srv = promptevtest.NewServer(key)
	t.Cleanup(srv.Close)
	srv.AddAgent("ops-agent", promptevtest.Agent{Name: "Ops", Respond: func(turn promptevtest.Turn) []promptevtest.Event {
		if !strings.Contains(turn.Query, slowQuery) {
			return []promptevtest.Event{{Type: promptevtest.TypeDone, Output: quickAnswer + turn.Query}}
		}
		slow.Add(1)
		var evs []promptevtest.Event
		for i := 1; i <= 120; i++ {
			evs = append(evs, promptevtest.Event{Type: promptevtest.TypeProcessing, Output: fmt.Sprintf("Step %d...", i), Delay: 500 * time.Millisecond})
		}
		return append(evs, promptevtest.Event{Type: promptevtest.TypeDone, Output: "Slow answer."})
	}})
	return srv, slow
}

// replicaConfig is the one config every replica runs: Slack in HTTP mode
// on a port of its own, the PostgreSQL store from ${PB_E2E_DSN} with short
// leases, the side port on a port of its own, JSON logs.
func replicaConfig(t *testing.T, promptevURL string, fake *slackfake.Server) string {
	t.Helper()
	return writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: '${PB_E2E_KEY}', base_url: '%s'}
routes: {default: {agent: ops-agent}}
runs: {shutdown_grace: 2s}
store:
  backend: postgres
  postgres: {dsn: '${PB_E2E_DSN}', lease_ttl: 3s, replica_id: '${PB_REPLICA_ID:-}'}
slack:
  enabled: true
  mode: http
  bot_token: '%s'
  signing_secret: '%s'
  listen: 127.0.0.1:0
  streaming: edit
  api_url: '%s'
http: {listen: '127.0.0.1:0'}
log: {level: debug, format: json}
`, promptevURL, slackfake.BotToken, slackfake.SigningSecret, fake.APIURL()))
}

// logAddr waits for the JSON log line whose message is msg and returns its
// addr attribute (a port bound to 127.0.0.1:0).
func logAddr(t *testing.T, logs *output, msg string) string {
	t.Helper()
	want := `"msg":"` + msg + `"`
	logs.waitFor(t, want)
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), want) {
			continue
		}
		var line struct {
			Addr string `json:"addr"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		require.NotEmpty(t, line.Addr, sc.Text())
		return line.Addr
	}
	t.Fatalf("no %s line", want)
	return ""
}

// waitFake waits for cond on the fake Slack, with a generous guard for a
// loaded machine.
func waitFake(t *testing.T, fake *slackfake.Server, what string, guard time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := fake.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting %s for %s: %v", guard, what, err)
	}
}

// waitHTTP polls url until its status is code and its body contains want.
func waitHTTP(t *testing.T, url string, code int, want string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second) // failure guard only
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == code && strings.Contains(string(b), want) {
				return string(b)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d with %q; last: %s", url, code, want, last)
	return ""
}

// placeholderOf waits for the bot's first post in the thread of ev and
// returns its ts.
func placeholderOf(t *testing.T, fake *slackfake.Server, ev slackfake.Event) string {
	t.Helper()
	var ts string
	waitFake(t, fake, "the placeholder of "+ev.TS, 60*time.Second, func() bool {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.ThreadTS == ev.TS && c.Error == "" {
				ts = c.TS
				return true
			}
		}
		return false
	})
	return ts
}

// updatesOf returns the successful chat.update calls on message ts whose
// text or blocks contain s.
func updatesOf(fake *slackfake.Server, ts, s string) int {
	n := 0
	for _, c := range fake.Calls("chat.update") {
		if c.TS == ts && c.Error == "" && strings.Contains(c.Text+string(c.Blocks), s) {
			n++
		}
	}
	return n
}

// answered reports whether the thread of ev holds the quick answer to it.
func answered(fake *slackfake.Server, ev slackfake.Event) bool {
	for _, m := range fake.Thread(ev.Channel, ev.TS) {
		if strings.Contains(m.Text+m.BlockText(), quickAnswer) {
			return true
		}
	}
	return false
}

// dbProxy is a TCP proxy on 127.0.0.1 in front of the test database that
// the test can cut (every connection closed, new ones closed at once) and
// restore, standing in for a network partition or a database restart.
type dbProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startDBProxy proxies to the server of dsn; the returned DSN is dsn
// through the proxy.
func startDBProxy(t *testing.T, dsn string) (*dbProxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dbProxy{ln: ln, target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	port := ln.Addr().(*net.TCPAddr).Port
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.Host = fmt.Sprintf("127.0.0.1:%d", port)
		return p, u.String()
	}
	// In a key/value DSN the last setting of a key wins.
	return p, fmt.Sprintf("%s host=127.0.0.1 port=%d", dsn, port)
}

func (p *dbProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Go(func() { p.pipe(c) })
		p.mu.Unlock()
	}
}

func (p *dbProxy) pipe(c net.Conn) {
	defer p.drop(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	// One side ended: end the other, and wait for its copy.
	c.Close()
	up.Close()
	<-done
}

func (p *dbProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Cut closes every proxied connection and refuses new ones until Restore.
func (p *dbProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *dbProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *dbProxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
