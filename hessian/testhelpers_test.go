package hessian

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomDataset makes n images with about density*784 non-zero pixels each, seeded.
func randomDataset(n int, density float64, seed uint64) *Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	b := NewBuilder(n)
	raw := make([]uint8, Pixels)
	for range n {
		for j := range raw {
			raw[j] = 0
			if r.Float64() < density {
				raw[j] = uint8(1 + r.IntN(255))
			}
		}
		b.AddDense(uint8(r.IntN(Classes)), raw)
	}
	return b.Dataset()
}

// randomWeights returns normal(0, sd) weights, seeded.
func randomWeights(sd float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 11))
	w := make([]float64, Params)
	for i := range w {
		w[i] = sd * r.NormFloat64()
	}
	return w
}

// naiveHessian forms (1/n) sum_s (x x^T) kron A_s densely from the definition.
func naiveHessian(w []float64, d *Dataset) []float64 {
	h := make([]float64, Params*Params)
	p := Probabilities(w, d)
	for s := range d.Len() {
		x := d.Dense(s)
		ps := p[Classes*s:]
		for j := range Pixels {
			if x[j] == 0 {
				continue
			}
			for j2 := range Pixels {
				if x[j2] == 0 {
					continue
				}
				for k := range Classes {
					for k2 := range Classes {
						a := -ps[k] * ps[k2]
						if k == k2 {
							a += ps[k]
						}
						h[(Classes*j+k)*Params+Classes*j2+k2] += x[j] * x[j2] * a / float64(d.Len())
					}
				}
			}
		}
	}
	return h
}

// maxAbsDiff returns max |a-b| and max |b|.
func maxAbsDiff(a, b []float64) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(a[i]-b[i]))
		scale = max(scale, math.Abs(b[i]))
	}
	return diff, scale
}

func relClose(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if d := math.Abs(got - want); d > tol*math.Max(1, math.Abs(want)) && d > tol*math.Abs(want) {
		t.Errorf("%s = %.17g; want %.17g (diff %.3g, tol %.1g)", what, got, want, d, tol)
	}
}
