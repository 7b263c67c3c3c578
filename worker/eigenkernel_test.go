package worker

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hessian-cluster/hess/internal/clusterplan"
)

// kernelTile returns a tile of rows [r0, r0+m) and columns [c0, c0+n) with seeded random
// entries, zero in the rows and columns (global indices) where zero is true; a diagonal
// tile (r0 == c0) gets NaN above its diagonal, which the kernels must not read.
func kernelTile(r0, m, c0, n int, zero func(i int) bool, seed uint64) *tile {
	rnd := rand.New(rand.NewPCG(seed, 2))
	t := &tile{t: clusterplan.Tile{I: r0, J: c0}, r0: r0, m: m, c0: c0, n: n, data: make([]float64, m*n)}
	for r := range m {
		for c := range n {
			switch {
			case r0 == c0 && c > r:
				t.data[r*n+c] = math.NaN()
			case zero(r0+r) || zero(c0+c):
			default:
				t.data[r*n+c] = rnd.NormFloat64()
			}
		}
	}
	return t
}

// at returns entry (i, j) of the symmetric matrix that t holds part of (global indices
// inside the tile, or mirrored inside a diagonal tile).
func at(t *tile, i, j int) float64 {
	if t.r0 == t.c0 && j > i {
		i, j = j, i
	}
	return t.data[(i-t.r0)*t.n+j-t.c0]
}

// TestTileKernels checks rtile.product and rtile.update against plain loops on
// diagonal and off-diagonal tiles, with the trailing matrix starting before, inside and
// after them, with and without zero rows and columns (the compacted update and the
// skipped rows).
func TestTileKernels(t *testing.T) {
	t.Parallel()
	none := func(int) bool { return false }
	some := func(i int) bool { return i%10 < 4 || (i > 60 && i < 75) }
	for _, tc := range []struct {
		name         string
		r0, m, c0, n int
		zero         func(int) bool
	}{
		{"diagonal", 40, 30, 40, 30, none},
		{"diagonal with zeros", 40, 30, 40, 30, some},
		{"below", 70, 25, 40, 30, none},
		{"below with zeros", 70, 25, 40, 30, some},
	} {
		for _, from := range []int{0, 45, 52, 80, 99} {
			t.Run(fmt.Sprintf("%s/from=%d", tc.name, from), func(t *testing.T) {
				tl := kernelTile(tc.r0, tc.m, tc.c0, tc.n, tc.zero, uint64(from))
				orig := slices.Clone(tl.data)
				rt, _, bad := scanTile(tl)
				if bad != "" {
					t.Fatal(bad)
				}
				const n = 100 // the matrix order
				rnd := rand.New(rand.NewPCG(7, uint64(from)))
				v := make([]float64, n-from)
				for i := range v {
					if !tc.zero(from + i) {
						v[i] = rnd.NormFloat64()
					}
				}
				rows, cols, ok := rt.product(from, v)
				ra, ca := max(tc.r0, from), max(tc.c0, from)
				if wantOK := ra < tc.r0+tc.m && ca < tc.c0+tc.n; ok != wantOK {
					t.Fatalf("product reports a part: %v; want %v", ok, wantOK)
				}
				if ok {
					diag := tc.r0 == tc.c0
					for i := ra; i < tc.r0+tc.m; i++ { // A_IJ v_J (the whole symmetric block on the diagonal)
						var want float64
						for j := ca; j < tc.c0+tc.n; j++ {
							want += at(tl, i, j) * v[j-from]
						}
						if got := rt.part[i-ra]; math.Abs(got-want) > 1e-13 {
							t.Errorf("row %d: %.17g; want %.17g", i, got, want)
						}
					}
					if !diag {
						for j := ca; j < tc.c0+tc.n; j++ { // A_IJ^T v_I
							var want float64
							for i := ra; i < tc.r0+tc.m; i++ {
								want += at(tl, i, j) * v[i-from]
							}
							if got := rt.part[rows+j-ca]; math.Abs(got-want) > 1e-13 {
								t.Errorf("column %d: %.17g; want %.17g", j, got, want)
							}
						}
					} else if cols != 0 {
						t.Errorf("diagonal tile reports %d column products", cols)
					}
				}

				// An update of rank 2k = 6 from row and column `from` on, zero where the
				// matrix is.
				const k = 3
				m := n - from
				u := &panelUpdate{p1: from, k: k, vw: make([]float64, 2*k*m), wv: make([]float64, 2*k*m), nz: make([]bool, m)}
				vv, ww := make([]float64, k*m), make([]float64, k*m)
				for r := range m {
					if tc.zero(from + r) {
						continue
					}
					u.nz[r] = true
					for c := range k {
						vv[r*k+c], ww[r*k+c] = rnd.NormFloat64(), rnd.NormFloat64()
						u.vw[2*k*r+c], u.vw[2*k*r+k+c] = vv[r*k+c], ww[r*k+c]
						u.wv[2*k*r+c], u.wv[2*k*r+k+c] = ww[r*k+c], vv[r*k+c]
					}
				}
				rt.update(u)
				for i := tc.r0; i < tc.r0+tc.m; i++ {
					for j := tc.c0; j < tc.c0+tc.n; j++ {
						if tc.r0 == tc.c0 && j > i {
							continue // not defined
						}
						want := orig[(i-tc.r0)*tc.n+j-tc.c0]
						if i >= from && j >= from {
							for c := range k {
								want -= vv[(i-from)*k+c]*ww[(j-from)*k+c] + ww[(i-from)*k+c]*vv[(j-from)*k+c]
							}
						}
						if got := tl.data[(i-tc.r0)*tc.n+j-tc.c0]; math.Abs(got-want) > 1e-13 {
							t.Fatalf("updated entry (%d, %d) = %.17g; want %.17g", i, j, got, want)
						}
					}
				}
				// The flags after the update still only mark rows that are zero.
				for r, z := range rt.zero[:tc.m] {
					if !z {
						continue
					}
					for c := range tc.n {
						if tc.r0 == tc.c0 && c > r {
							break
						}
						if tl.data[r*tc.n+c] != 0 {
							t.Fatalf("row %d is marked zero but holds %g at column %d", tc.r0+r, tl.data[r*tc.n+c], tc.c0+c)
						}
					}
				}
			})
		}
	}
}

// TestScanTileRefusesNaN: a tile entry that is not finite in the lower triangle is
// reported with its global position; above the diagonal of a diagonal tile it is not
// read.
func TestScanTileRefusesNaN(t *testing.T) {
	t.Parallel()
	none := func(int) bool { return false }
	tl := kernelTile(10, 5, 10, 5, none, 1) // NaN above its diagonal
	if _, _, bad := scanTile(tl); bad != "" {
		t.Errorf("scan of a diagonal tile read above the diagonal: %s", bad)
	}
	tl.data[3*5+1] = math.Inf(-1)
	if _, _, bad := scanTile(tl); bad != "tile (10,10): entry (13, 11) is -Inf" {
		t.Errorf("scan = %q; want the entry (13, 11) named", bad)
	}
}
