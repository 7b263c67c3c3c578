package coordinator

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWorkerLostDuringReduction kills a worker as the reduction fetches its first panel
// (after ReduceStart, with the tiles already destroyed), and blackholes one as the spy
// counts begin: each phase starts again from the assembly on the two survivors, in a new
// generation, and gives the fault-free result.
func TestWorkerLostDuringReduction(t *testing.T) {
	if testing.Short() {
		t.Skip("the race run keeps one fault test (TestWorkerKilledInEveryPhase)")
	}
	d := cornerSet(6)
	w := randomWeights(5)
	want := cornerEigenvalues(t, d, w)
	for _, tc := range []struct {
		phase string
		fault func(p *faultProxy, stop func() error)
	}{
		{"reduce-panel", func(_ *faultProxy, stop func() error) { stop() }},
		{"spy", func(p *faultProxy, _ func() error) { p.blackhole() }},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			lb := startWorkers(t, 3)
			var addrs []string
			var proxies []*faultProxy
			for _, a := range lb.Addrs {
				p := newFaultProxy(t, a)
				proxies = append(proxies, p)
				addrs = append(addrs, p.Addr())
			}
			var once sync.Once
			cfg := Config{Workers: addrs, TileSize: 300, StartupTimeout: 10 * time.Second,
				Liveness: Liveness{Heartbeat: 200 * time.Millisecond, DeadAfter: 2 * time.Second},
				testHook: func(phase string) {
					if phase == tc.phase {
						once.Do(func() { tc.fault(proxies[1], lb.Servers[1].Close) })
					}
				}}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			c, err := New(ctx, cfg, d)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if tc.phase == "spy" {
				got, err := c.SpyCounts(ctx, w, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				// The single-process counts: the same cells without a fault.
				ref := newCluster(t, lb.Addrs[:1], 300, 0, d)
				wantCounts, err := ref.SpyCounts(ctx, w, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, wantCounts) {
					t.Error("spy counts after the fault differ from the fault-free ones")
				}
			} else {
				got, err := c.Eigenvalues(ctx, w, 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				checkEigenvalues(t, got, want, 1e-9)
			}
			if got := c.Workers(); len(got) != 2 || got[0] != addrs[0] || got[1] != addrs[2] || c.Generation() != 2 {
				t.Errorf("after the fault: workers %v in generation %d; want the survivors %s, %s in generation 2", got, c.Generation(), addrs[0], addrs[2])
			}
		})
	}
}
