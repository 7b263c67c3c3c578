package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/plots"
)

func init() {
	register("weights", "draw the ten 28x28 weight images of a weights file as a PNG", runWeights)
}

func runWeights(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("weights", "--weights F.npy [--out weights.png]", stderr)
	var (
		spec = fs.String("weights", "", "the weights to draw: "+weightsSpecHelp+" (required)")
		out  = fs.String("out", "weights.png", "output PNG")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *spec == "" {
		fs.Usage()
		return fmt.Errorf("weights: --weights is required")
	}
	w, label, err := loadWeights(*spec)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := plots.WeightImages(*out, w); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: the ten class images of %s\n", *out, label)
	return nil
}

// weightsSpecHelp describes the values of a --weights flag.
const weightsSpecHelp = "zero (W = 0), normal or normal:SEED (numpy.random.RandomState(SEED).normal(0, 0.1, (784, 10)) to 1e-15; SEED 0 by default), " +
	"a .npy of float64 (784, 10) or (7840,), or a .json file (or ref:PATH) with a \"W\" array of 7840 values in flat order"

// loadWeights reads a --weights value (see weightsSpecHelp) and returns the weights in
// flat order v[10*j+k] = W[j,k] and a short label for titles and output.
func loadWeights(spec string) (w []float64, label string, err error) {
	switch {
	case spec == "" || spec == "zero":
		return make([]float64, hessian.Params), "W = 0", nil
	case spec == "normal" || strings.HasPrefix(spec, "normal:"):
		seed := uint64(0)
		if s, ok := strings.CutPrefix(spec, "normal:"); ok {
			if seed, err = strconv.ParseUint(s, 10, 32); err != nil {
				return nil, "", fmt.Errorf("--weights %q: the seed must be an integer in [0, 2^32)", spec)
			}
		}
		return numpyNormalWeights(uint32(seed), 0.1), fmt.Sprintf("W ~ normal(0, 0.1), numpy seed %d", seed), nil
	case strings.HasPrefix(spec, "ref:") || strings.HasSuffix(strings.ToLower(spec), ".json"):
		path := strings.TrimPrefix(spec, "ref:")
		w, err := readJSONWeights(path)
		return w, "W from " + path, err
	default:
		w, err := hessian.ReadWeights(spec)
		if err != nil {
			return nil, "", fmt.Errorf("--weights: %w", err)
		}
		return w, "W from " + spec, nil
	}
}

// readJSONWeights reads a JSON object with a "W" array of 7840 finite numbers in flat
// order, like the reference's W_random_seed0.json.
func readJSONWeights(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--weights: %w", err)
	}
	var v struct {
		W []float64 `json:"W"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("--weights %s: not a JSON object with a \"W\" array of numbers: %w", path, err)
	}
	if v.W == nil {
		return nil, fmt.Errorf("--weights %s: no \"W\" array", path)
	}
	if err := hessian.CheckWeights(v.W); err != nil {
		return nil, fmt.Errorf("--weights %s: %w", path, err)
	}
	return v.W, nil
}

// numpyNormalWeights returns numpy.random.RandomState(seed).normal(0, sd, (784, 10)) in
// flat order, from MT19937 and NumPy's legacy polar Box-Muller method: NumPy's stream of
// numbers, equal to its values to a few units in the last place (Go's math.Log and the C
// library's log differ in the last bit now and then; 7650 of the 7840 values for seed 0
// are identical).
func numpyNormalWeights(seed uint32, sd float64) []float64 {
	r := newMT19937(seed)
	w := make([]float64, hessian.Params)
	for i := range w {
		w[i] = sd * r.gauss()
	}
	return w
}

// mt19937 is the Mersenne Twister of NumPy's legacy RandomState (Matsumoto and Nishimura
// 1998), with RandomState's cached second normal deviate.
type mt19937 struct {
	mt       [624]uint32
	pos      int
	hasGauss bool
	gauss2   float64
}

// newMT19937 seeds the generator as RandomState(seed) does (init_genrand).
func newMT19937(seed uint32) *mt19937 {
	r := &mt19937{pos: 624}
	r.mt[0] = seed
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	return r
}

func (r *mt19937) uint32() uint32 {
	if r.pos >= 624 {
		for k := range 624 {
			y := r.mt[k]&0x80000000 | r.mt[(k+1)%624]&0x7fffffff
			v := r.mt[(k+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			r.mt[k] = v
		}
		r.pos = 0
	}
	y := r.mt[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// double returns a uniform number in [0, 1) with 53 random bits, as random_sample does.
func (r *mt19937) double() float64 {
	a, b := r.uint32()>>5, r.uint32()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// gauss returns a standard normal deviate by NumPy's legacy polar method, which makes
// two at a time and keeps the second.
func (r *mt19937) gauss() float64 {
	if r.hasGauss {
		r.hasGauss = false
		return r.gauss2
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*r.double() - 1
		x2 = 2*r.double() - 1
		r2 = x1*x1 + x2*x2
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	r.gauss2, r.hasGauss = f*x1, true
	return f * x2
}
