package hessian

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// chunkImages is the number of images one goroutine sums at a time. Partial sums are
// added in chunk order, so results do not depend on the number of goroutines.
const chunkImages = 2048

// logits sets z = W^T x for the sparse image (pix, val).
func logits(z *[Classes]float64, w []float64, pix []uint16, val []uint8) {
	*z = [Classes]float64{}
	for i, j := range pix {
		x := pixelValue[val[i]]
		wj := (*[Classes]float64)(w[Classes*int(j):])
		for k := range Classes {
			z[k] += x * wj[k]
		}
	}
}

// softmax sets p = softmax(z) and returns logsumexp(z), computed stably: it stays exact
// for logits of magnitude 1e4 and more.
func softmax(p, z *[Classes]float64) float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var s float64
	for k, v := range z {
		p[k] = math.Exp(v - m)
		s += p[k]
	}
	for k := range p {
		p[k] /= s
	}
	return m + math.Log(s)
}

// argmax returns the first index of the largest logit.
func argmax(z *[Classes]float64) int {
	best := 0
	for k := 1; k < Classes; k++ {
		if z[k] > z[best] {
			best = k
		}
	}
	return best
}

// Sums are unnormalized sums over a set of images, the unit that workers return and that
// adds up across shards.
type Sums struct {
	N       int       // images summed
	Loss    float64   // sum of per-image cross-entropy losses
	Correct int       // images whose largest logit is their label
	Grad    []float64 // sum of per-image gradients, Params long; nil when not asked for
}

// Add adds o into s. Both must have a gradient or neither.
func (s *Sums) Add(o *Sums) {
	s.N += o.N
	s.Loss += o.Loss
	s.Correct += o.Correct
	if o.Grad != nil {
		if s.Grad == nil {
			s.Grad = make([]float64, Params)
		}
		for i, g := range o.Grad {
			s.Grad[i] += g
		}
	}
}

// CheckWeights returns an error when w is not Params long or holds NaN or Inf.
func CheckWeights(w []float64) error {
	if len(w) != Params {
		return fmt.Errorf("hessian: weights have %d values, want %d (784 pixels x 10 classes)", len(w), Params)
	}
	for i, v := range w {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("hessian: weight %d (pixel %d, class %d) is %v", i, i/Classes, i%Classes, v)
		}
	}
	return nil
}

// LossSums returns the summed loss, correct count and, if withGrad, the summed gradient
// dl/dW[j,k] = x_j (p_k - y_k) over the images of d at weights w.
func LossSums(w []float64, d *Dataset, withGrad bool) Sums {
	if len(w) != Params {
		panic(fmt.Sprintf("hessian: weights of length %d, want %d", len(w), Params))
	}
	n := d.Len()
	chunks := (n + chunkImages - 1) / chunkImages
	parts := make([]Sums, chunks)
	parallelFor(chunks, func(c int) {
		lo, hi := c*chunkImages, min(n, (c+1)*chunkImages)
		part := Sums{N: hi - lo}
		if withGrad {
			part.Grad = make([]float64, Params)
		}
		var z, p [Classes]float64
		for s := lo; s < hi; s++ {
			pix, val := d.Image(s)
			logits(&z, w, pix, val)
			y := int(d.Labels[s])
			part.Loss += softmax(&p, &z) - z[y]
			if argmax(&z) == y {
				part.Correct++
			}
			if !withGrad {
				continue
			}
			p[y]--
			for i, j := range pix {
				x := pixelValue[val[i]]
				g := (*[Classes]float64)(part.Grad[Classes*int(j):])
				for k := range Classes {
					g[k] += x * p[k]
				}
			}
		}
		parts[c] = part
	})
	var total Sums
	if withGrad {
		total.Grad = make([]float64, Params)
	}
	for i := range parts {
		total.Add(&parts[i])
	}
	return total
}

// Probabilities returns p_s = softmax(W^T x_s) for every image of d, Classes per image.
func Probabilities(w []float64, d *Dataset) []float64 {
	n := d.Len()
	out := make([]float64, n*Classes)
	chunks := (n + chunkImages - 1) / chunkImages
	parallelFor(chunks, func(c int) {
		var z [Classes]float64
		for s := c * chunkImages; s < min(n, (c+1)*chunkImages); s++ {
			pix, val := d.Image(s)
			logits(&z, w, pix, val)
			softmax((*[Classes]float64)(out[Classes*s:]), &z)
		}
	})
	return out
}

// Accuracy returns the fraction of images of d whose largest logit is their label.
func Accuracy(w []float64, d *Dataset) float64 {
	if d.Len() == 0 {
		return 0
	}
	s := LossSums(w, d, false)
	return float64(s.Correct) / float64(s.N)
}

// Predict returns the predicted class of every image of d.
func Predict(w []float64, d *Dataset) []uint8 {
	out := make([]uint8, d.Len())
	var z [Classes]float64
	for s := range out {
		pix, val := d.Image(s)
		logits(&z, w, pix, val)
		out[s] = uint8(argmax(&z))
	}
	return out
}

// parallelFor runs f(0..n-1) on up to GOMAXPROCS goroutines and returns when all are done.
func parallelFor(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
