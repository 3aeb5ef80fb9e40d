package insights

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quarry/quarry/meta"
)

// Callback defaults (Config.CallbackTimeout, CallbackAttempts,
// CallbackBackoff, MaxCallbacks).
const (
	DefaultCallbackTimeout  = 10 * time.Second
	DefaultCallbackAttempts = 3
	DefaultCallbackBackoff  = time.Second
	DefaultMaxCallbacks     = 16
	// CallbackSucceeded is the callbackStatus of a delivered callback;
	// a failed one is "Failed: <reason>".
	CallbackSucceeded = "Succeeded"
)

// callbacks delivers completion callbacks off the job workers: each one
// in its own goroutine, at most MaxCallbacks HTTP calls at a time, each
// call bounded by CallbackTimeout, CallbackAttempts attempts with
// exponential backoff (CallbackBackoff, 2×, 4×, …). The outcome is
// recorded on the execution (callbackStatus).
//
// A callback survives a crash: the execution is marked as owing it in the
// write that completes it (meta.Execution.CallbackPending), each call is
// counted in the store before it is made, and the mark is cleared with
// the outcome. Resume sends the owed ones again after a restart, with the
// attempts left.
type callbacks struct {
	client   *http.Client
	attempts int
	backoff  time.Duration
	sem      chan struct{}
	execs    meta.Executions
	wg       sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool // executions whose callback is under way here
}

func newCallbacks(cfg Config) *callbacks {
	return &callbacks{client: &http.Client{Timeout: cfg.CallbackTimeout}, attempts: cfg.CallbackAttempts,
		backoff: cfg.CallbackBackoff, sem: make(chan struct{}, cfg.MaxCallbacks), execs: cfg.Executions,
		inflight: map[string]bool{}}
}

// CallbackURL is the URL a report's callback calls: POST
// {CallbackUrl}/{reportId}, GET {CallbackUrl}?reportId={reportId}.
func CallbackURL(base, method, reportID string) string {
	if strings.EqualFold(method, http.MethodGet) {
		u, err := url.Parse(base)
		if err != nil {
			return base + "?reportId=" + url.QueryEscape(reportID)
		}
		q := u.Query()
		q.Set("reportId", reportID)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimRight(base, "/") + "/" + url.PathEscape(reportID)
}

// send calls r's callback for a completed execution, in the background,
// unless it is already under way here or no longer owed.
func (cb *callbacks) send(r meta.Report, executionID string) {
	if r.CallbackURL == "" {
		return
	}
	cb.mu.Lock()
	if cb.inflight[executionID] {
		cb.mu.Unlock()
		return
	}
	cb.inflight[executionID] = true
	cb.mu.Unlock()
	cb.wg.Add(1)
	go func() {
		defer cb.wg.Done()
		defer func() {
			cb.mu.Lock()
			delete(cb.inflight, executionID)
			cb.mu.Unlock()
		}()
		cb.sem <- struct{}{}
		defer func() { <-cb.sem }()
		log := slog.Default().With("component", "insights", "execution", executionID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done := 0
		if cb.execs != nil {
			// Read again: the outcome may have been recorded since the
			// caller looked (a resumed callback that just ended).
			e, err := cb.execs.GetExecution(ctx, executionID)
			if err != nil {
				if !errors.Is(err, meta.ErrNotFound) {
					log.Error("report callback: the execution", "err", err)
				}
				cancel()
				return
			}
			if !e.CallbackPending {
				cancel()
				return
			}
			done = e.CallbackAttempts
		}
		cancel()
		status := CallbackSucceeded
		if err := cb.deliver(r, executionID, done, log); err != nil {
			status = "Failed: " + err.Error()
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cb.execs != nil {
			if err := cb.execs.SetExecutionCallback(ctx, executionID, status); err != nil && !errors.Is(err, meta.ErrNotFound) {
				log.Error("recording a report callback", "err", err)
			}
		}
	}()
}

// deliver makes the attempts left after done (up to attempts in all); a
// 2xx answer is a success. Each attempt is counted in the store before it
// is made. The first attempt of this process goes at once, the later ones
// after the backoff (CallbackBackoff, doubled each time).
func (cb *callbacks) deliver(r meta.Report, executionID string, done int, log *slog.Logger) error {
	method := strings.ToUpper(r.CallbackMethod)
	if method != http.MethodGet {
		method = http.MethodPost
	}
	target := CallbackURL(r.CallbackURL, method, r.ID)
	if done >= cb.attempts {
		return fmt.Errorf("%s %s: no attempt left of %d (interrupted by a restart)", method, target, cb.attempts)
	}
	var body []byte
	if method == http.MethodPost {
		body, _ = json.Marshal(map[string]string{"reportId": r.ID, "executionId": executionID})
	}
	var err error
	wait := cb.backoff << done // the backoff before attempt done+2, as if never interrupted
	for attempt := done + 1; attempt <= cb.attempts; attempt++ {
		if attempt > done+1 {
			time.Sleep(wait)
			wait *= 2
		}
		if cb.execs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, aerr := cb.execs.RecordCallbackAttempt(ctx, executionID)
			cancel()
			if errors.Is(aerr, meta.ErrNotFound) {
				return fmt.Errorf("the execution is gone: %w", aerr)
			}
			if aerr != nil {
				log.Error("counting a report callback attempt", "err", aerr)
			}
		}
		if err = cb.once(method, target, body); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s %s after %d attempts: %w", method, target, cb.attempts, err)
}

func (cb *callbacks) once(method, target string, body []byte) error {
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "quarry-callback")
	resp, err := cb.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// WaitCallbacks waits until the callbacks under way have ended or ctx
// ends.
func (a *API) WaitCallbacks(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.callbacks.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
