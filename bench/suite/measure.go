//go:build duckdb_arrow

package suite

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quarry/quarry/engine"
)

// sampler follows the memory of a set of processes: the sum of their
// proportional set sizes (Pss from /proc/<pid>/smaps_rollup, so pages a
// server's processes share count once), every 10 ms.
type sampler struct {
	pids       []int
	stopc      chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	peak, base int64
}

func startSampler(pids []int) *sampler {
	s := &sampler{pids: pids, stopc: make(chan struct{})}
	s.base = s.read()
	s.peak = s.base
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				v := s.read()
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak and the value at the start.
func (s *sampler) stop() (peak, base int64) {
	v := s.read()
	close(s.stopc)
	s.wg.Wait()
	return max(s.peak, v), s.base
}

func (s *sampler) read() int64 {
	var sum int64
	for _, p := range s.pids {
		sum += pss(p)
	}
	return sum
}

// pss is a process's Pss in bytes (its RSS when smaps_rollup is missing).
func pss(pid int) int64 {
	for _, f := range []struct{ file, key string }{{"smaps_rollup", "Pss:"}, {"status", "VmRSS:"}} {
		fh, err := os.Open("/proc/" + strconv.Itoa(pid) + "/" + f.file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, f.key) {
				fields := strings.Fields(line)
				fh.Close()
				if len(fields) >= 2 {
					kb, _ := strconv.ParseInt(fields[1], 10, 64)
					return kb << 10
				}
				return 0
			}
		}
		fh.Close()
	}
	return 0
}

// descendants is pid and every process below it.
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(out[i]) + "/task/" + strconv.Itoa(out[i]) + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// machine describes the host the suite ran on.
func machine(ctx context.Context, e *engine.Engine) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i > 0 {
					m.CPU = strings.TrimSpace(l[i+1:])
					break
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					m.MemoryGiB = float64(kb) / (1 << 20)
				}
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		m.Host = h
	}
	_ = e.DB().QueryRowContext(ctx, "SELECT version()").Scan(&m.DuckDBVersion)
	return m
}
