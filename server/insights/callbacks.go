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
type callbacks struct {
	client   *http.Client
	attempts int
	backoff  time.Duration
	sem      chan struct{}
	execs    meta.Executions
	wg       sync.WaitGroup
}

func newCallbacks(cfg Config) *callbacks {
	return &callbacks{client: &http.Client{Timeout: cfg.CallbackTimeout}, attempts: cfg.CallbackAttempts,
		backoff: cfg.CallbackBackoff, sem: make(chan struct{}, cfg.MaxCallbacks), execs: cfg.Executions}
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

// send calls r's callback for a completed execution, in the background.
func (cb *callbacks) send(r meta.Report, executionID string) {
	if r.CallbackURL == "" {
		return
	}
	cb.wg.Add(1)
	go func() {
		defer cb.wg.Done()
		cb.sem <- struct{}{}
		defer func() { <-cb.sem }()
		status := CallbackSucceeded
		if err := cb.deliver(r, executionID); err != nil {
			status = "Failed: " + err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cb.execs != nil {
			if err := cb.execs.SetExecutionCallback(ctx, executionID, status); err != nil && !errors.Is(err, meta.ErrNotFound) {
				slog.Default().Error("recording a report callback", "execution", executionID, "err", err)
			}
		}
	}()
}

// deliver tries the callback up to attempts times; a 2xx answer is a
// success.
func (cb *callbacks) deliver(r meta.Report, executionID string) error {
	method := strings.ToUpper(r.CallbackMethod)
	if method != http.MethodGet {
		method = http.MethodPost
	}
	target := CallbackURL(r.CallbackURL, method, r.ID)
	var body []byte
	if method == http.MethodPost {
		body, _ = json.Marshal(map[string]string{"reportId": r.ID, "executionId": executionID})
	}
	var err error
	wait := cb.backoff
	for attempt := 1; attempt <= cb.attempts; attempt++ {
		if attempt > 1 {
			time.Sleep(wait)
			wait *= 2
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
