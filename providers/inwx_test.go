//go:build !minimal

package providers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/libdns/inwx"
)

// fakeINWX is INWX's JSON-RPC API with sessions: account.login opens one (a cookie), account.logout ends it, and
// every other call needs a live one.
type fakeINWX struct {
	mu       sync.Mutex
	sessions map[string]bool
	next     int
	deleted  int
}

func (f *fakeINWX) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	// Calls of concurrent CleanUps overlap, and each CleanUp takes its own time: key-7's lookup is the slowest.
	var n int
	_, _ = fmt.Sscanf(fmt.Sprint(req.Params["content"]), "key-%d", &n)
	time.Sleep(time.Duration(5+10*n) * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, data any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": "ok", "resData": data})
	}
	cookie, _ := r.Cookie("domrobot")
	live := cookie != nil && f.sessions[cookie.Value]
	switch {
	case req.Method == "account.login" && req.Params["user"] == "acme" && req.Params["pass"] == "inwx-password":
		f.next++
		id := fmt.Sprint(f.next)
		f.sessions[id] = true
		http.SetCookie(w, &http.Cookie{Name: "domrobot", Value: id, Path: "/"})
		reply(1000, map[string]any{"tfa": "0"})
	case !live:
		reply(2200, nil) // Authentication error
	case req.Method == "account.logout":
		delete(f.sessions, cookie.Value)
		reply(1500, nil)
	case req.Method == "nameserver.info":
		reply(1000, map[string]any{"record": []map[string]any{{"id": "7", "name": "_acme-challenge.example.org", "type": "TXT", "content": req.Params["content"], "ttl": 300}}})
	case req.Method == "nameserver.deleteRecord":
		f.deleted++
		reply(1000, nil)
	default:
		reply(2000, nil)
	}
}

func TestINWXConcurrentCallsEachHaveTheirOwnSession(t *testing.T) {
	t.Parallel()
	f := &fakeINWX{sessions: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	defer srv.Close()
	// The library builds its own transport, so the fake is reached through endpoint_url.
	w := newTestWriter(t, inwxEntry(), &inwx.Provider{Username: "acme", Password: "inwx-password", EndpointURL: srv.URL + "/jsonrpc/"}, testEnv(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.CleanUp(testCtx(t), testRecord(fmt.Sprintf("key-%d", i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent CleanUp: %v (one provider value shares one session, and a call's logout ends it under the others)", err)
		}
	}
	if f.deleted != 8 || len(f.sessions) != 0 {
		t.Errorf("%d deletes, %d sessions left open", f.deleted, len(f.sessions))
	}
}

func TestINWXRefusesABadEndpoint(t *testing.T) {
	t.Parallel()
	refused(t, inwxEntry(), &inwx.Provider{Username: "u", Password: "p", EndpointURL: "api.domrobot.com/jsonrpc/"}, "endpoint_url")
}
