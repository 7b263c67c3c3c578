package coordinator

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/worker"
)

func TestMain(m *testing.M) {
	// Every goroutine of a test has an owner that stops it: none outlives the tests.
	goleak.VerifyTestMain(m)
}

// mnistOnce loads real MNIST once per test binary.
var mnistOnce = sync.OnceValues(func() ([2]*hessian.Dataset, error) {
	train, test, err := hessian.LoadMNIST("")
	return [2]*hessian.Dataset{train, test}, err
})

func loadMNIST(tb testing.TB) (train, test *hessian.Dataset) {
	tb.Helper()
	d, err := mnistOnce()
	if err != nil {
		tb.Fatalf("real MNIST (run `go mod download` first): %v", err)
	}
	return d[0], d[1]
}

// startWorkers starts n loopback workers that the test stops.
func startWorkers(t testing.TB, n int) *worker.Loopback {
	t.Helper()
	lb, err := worker.StartLoopback(n, worker.Config{GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lb.Close(); err != nil {
			t.Errorf("closing workers: %v", err)
		}
	})
	return lb
}

// newCluster starts a job on the workers; the test closes it.
func newCluster(t testing.TB, addrs []string, tile int, eps float64, train *hessian.Dataset) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Workers: addrs, TileSize: tile, Eps: eps, StartupTimeout: 10 * time.Second}, train)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing the job: %v", err)
		}
	})
	return c
}

// relDiff returns max_i |a_i - b_i| / max_i |b_i|: the normwise relative difference.
func relDiff(a, b []float64) float64 {
	var d, m float64
	for i := range b {
		d = max(d, math.Abs(a[i]-b[i]))
		m = max(m, math.Abs(b[i]))
	}
	if m == 0 {
		return d
	}
	return d / m
}

// randomWeights returns reproducible weights with entries of about 0.1.
func randomWeights(seed uint64) []float64 {
	w := make([]float64, hessian.Params)
	x := seed
	for i := range w {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		w[i] = 0.2 * (float64(x>>11)/(1<<53) - 0.5)
	}
	return w
}
