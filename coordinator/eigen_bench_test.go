package coordinator

import (
	"testing"
	"time"

	"github.com/hessian-cluster/hess/hessian"
)

// numpyEigvalshSeconds is the reference figure for all 7840 eigenvalues of H + R by
// numpy.linalg.eigvalsh (OpenBLAS) on the 2-core development machine
// (../shared/reference/README.md).
const numpyEigvalshSeconds = 31

// BenchmarkClusterSpectrumFull times all 7840 eigenvalues of the full-data (60000
// images) H + R (eps = 0.001, at W = 0: every row takes part) on two loopback workers,
// the work of `hess spectrum --batch all --eps 0.001 --in-process 2`. Each iteration
// assembles the matrix again (the reduction destroys the tiles); the metrics separate
// the two, give the reduction's CPU time (all threads; steadier than wall time on a shared
// machine), and put the eigenvalues beside NumPy's eigvalsh on the same machine. Minutes:
// run it alone, with -bench ClusterSpectrumFull -benchtime 1x.
func BenchmarkClusterSpectrumFull(b *testing.B) {
	train, _ := loadMNIST(b)
	lb := startWorkers(b, 2)
	c := newCluster(b, lb.Addrs, 0, 0.001, train)
	w := make([]float64, hessian.Params)
	ctx := b.Context()
	var assemble, eigen time.Duration
	var eigenCPU float64
	for b.Loop() {
		var reduceStart time.Time
		var cpu0 float64
		start := time.Now()
		eigs, err := c.Eigenvalues(ctx, w, 0, func(phase string, done, total int) {
			if done == 0 && reduceStart.IsZero() {
				reduceStart, cpu0 = time.Now(), cpuSeconds() // the assembly is done, the reduction begins
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		assemble, eigen = assemble+reduceStart.Sub(start), eigen+time.Since(reduceStart)
		eigenCPU += cpuSeconds() - cpu0
		if eigs[0] <= 0 {
			b.Fatalf("smallest eigenvalue of H + R = %g; want > 0 (positive definite)", eigs[0])
		}
	}
	n := float64(b.N)
	b.ReportMetric(assemble.Seconds()/n, "assemble-s/op")
	b.ReportMetric(eigen.Seconds()/n, "eigenvalues-s/op")
	b.ReportMetric(eigenCPU/n, "eigenvalues-cpu-s/op") // all threads of the process: workers and coordinator
	b.ReportMetric(numpyEigvalshSeconds, "numpy-eigvalsh-s")
	b.ReportMetric(eigen.Seconds()/n/numpyEigvalshSeconds, "x-numpy")
}
