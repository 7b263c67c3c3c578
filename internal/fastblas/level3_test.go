package fastblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var (
	ref        = gonum.Implementation{}
	transposes = []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans}
	scalars    = []float64{0, 1, -1, 0.5}
)

const tol = 1e-12

// testSizes are the dimensions the randomized tests draw from: odd sizes,
// sizes around the register blocks (6, 8) and the cache blocks.
func testSizes() []int {
	if raceEnabled {
		return []int{0, 1, 2, 3, 5, 6, 7, 8, 9, 13, 17, 31, 33, 50}
	}
	return []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 17, 23, 31, 32, 33, 47, 64, 65, 97, 128, 129, 150, 200, 255, 257, 300}
}

func numCases() int {
	if raceEnabled {
		return 40
	}
	return 120
}

func pick[T any](rnd *rand.Rand, s []T) T { return s[rnd.IntN(len(s))] }

// dgemmCase runs one Dgemm against gonum's and reports a mismatch.
func dgemmCase(rnd *rand.Rand, tA, tB blas.Transpose, m, n, k int, alpha, beta float64) error {
	ar, ac := m, k
	if tA != blas.NoTrans {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB != blas.NoTrans {
		br, bc = n, k
	}
	lda, ldb, ldc := randLd(rnd, ac), randLd(rnd, bc), randLd(rnd, n)
	a := randGeneral(rnd, ar, ac, lda, math.NaN())
	b := randGeneral(rnd, br, bc, ldb, math.NaN())
	c := randGeneral(rnd, m, n, ldc, math.Inf(1))
	want := append([]float64(nil), c...)
	ref.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	if err := checkClose(c, want, m, n, ldc, tol); err != nil {
		return fmt.Errorf("Dgemm(%c, %c, m=%d, n=%d, k=%d, alpha=%v, lda=%d, ldb=%d, beta=%v, ldc=%d): %v",
			tA, tB, m, n, k, alpha, lda, ldb, beta, ldc, err)
	}
	return nil
}

func TestDgemmRandom(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(1, 2))
		sizes := testSizes()
		// Every transpose/alpha/beta combination on a fixed odd shape.
		for _, tA := range transposes {
			for _, tB := range transposes {
				for _, alpha := range scalars {
					for _, beta := range scalars {
						if err := dgemmCase(rnd, tA, tB, 37, 29, 41, alpha, beta); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		// Random shapes.
		for range numCases() {
			err := dgemmCase(rnd, pick(rnd, transposes), pick(rnd, transposes),
				pick(rnd, sizes), pick(rnd, sizes), pick(rnd, sizes), pick(rnd, scalars), pick(rnd, scalars))
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDgemmLarge crosses the production cache blocks (mc, kc) in every
// dimension, and goes parallel.
func TestDgemmLarge(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("slow reference")
	}
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(3, 4))
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				if err := dgemmCase(rnd, tA, tB, 307, 291, 517, 0.5, -1); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// TestDgemmSpecialScalars checks the BLAS definitions for alpha and beta: C
// is not read when beta == 0, and A and B are not read when alpha == 0.
func TestDgemmSpecialScalars(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(5, 6))
		for _, sz := range [][3]int{{1, 1, 1}, {5, 7, 3}, {37, 29, 41}, {64, 64, 300}} {
			m, n, k := sz[0], sz[1], sz[2]
			a := randSlice(rnd, m*k)
			b := randSlice(rnd, k*n)
			// beta == 0 overwrites NaN in C.
			c := make([]float64, m*n)
			for i := range c {
				c[i] = math.NaN()
			}
			Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 2, a, k, b, n, 0, c, n)
			want := make([]float64, m*n)
			ref.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 2, a, k, b, n, 0, want, n)
			if err := checkClose(c, want, m, n, n, tol); err != nil {
				t.Fatalf("beta=0 with NaN C, %v: %v", sz, err)
			}
			// alpha == 0: A and B are not referenced.
			nanA := make([]float64, m*k)
			for i := range nanA {
				nanA[i] = math.NaN()
			}
			c = randSlice(rnd, m*n)
			want = append([]float64(nil), c...)
			for i := range want {
				want[i] *= 0.5
			}
			Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 0, nanA, k, b, n, 0.5, c, n)
			if err := checkClose(c, want, m, n, n, 0); err != nil {
				t.Fatalf("alpha=0, %v: %v", sz, err)
			}
			// beta == 1, alpha == 0: C untouched, even if it holds NaN.
			c[0] = math.NaN()
			Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 0, nanA, k, b, n, 1, c, n)
			if !math.IsNaN(c[0]) {
				t.Fatalf("alpha=0, beta=1 changed C")
			}
		}
	})
}

func dsyrkCase(rnd *rand.Rand, ul blas.Uplo, tA blas.Transpose, n, k int, alpha, beta float64) error {
	ar, ac := n, k
	if tA != blas.NoTrans {
		ar, ac = k, n
	}
	lda, ldc := randLd(rnd, ac), randLd(rnd, n)
	a := randGeneral(rnd, ar, ac, lda, math.NaN())
	c := randGeneral(rnd, n, n, ldc, math.Inf(-1))
	// The other triangle must be neither read nor written.
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if (ul == blas.Upper && j < i) || (ul == blas.Lower && j > i) {
				c[i*ldc+j] = math.NaN()
			}
		}
	}
	want := append([]float64(nil), c...)
	ref.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, want, ldc)
	Implementation{}.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
	err := func() error {
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				idx := i*ldc + j
				if (ul == blas.Upper && j < i) || (ul == blas.Lower && j > i) {
					if !math.IsNaN(c[idx]) {
						return fmt.Errorf("other triangle written at (%d,%d)", i, j)
					}
					c[idx], want[idx] = 0, 0
				}
			}
		}
		return checkClose(c, want, n, n, ldc, tol)
	}()
	if err != nil {
		return fmt.Errorf("Dsyrk(%c, %c, n=%d, k=%d, alpha=%v, lda=%d, beta=%v, ldc=%d): %v",
			ul, tA, n, k, alpha, lda, beta, ldc, err)
	}
	return nil
}

func TestDsyrkRandom(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(7, 8))
		sizes := testSizes()
		for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
			for _, tA := range transposes {
				for _, alpha := range scalars {
					for _, beta := range scalars {
						if err := dsyrkCase(rnd, ul, tA, 37, 43, alpha, beta); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		for range numCases() {
			err := dsyrkCase(rnd, pick(rnd, []blas.Uplo{blas.Upper, blas.Lower}), pick(rnd, transposes),
				pick(rnd, sizes), pick(rnd, sizes), pick(rnd, scalars), pick(rnd, scalars))
			if err != nil {
				t.Fatal(err)
			}
		}
		if !raceEnabled && !testing.Short() {
			// Crosses syrkBase and the cache blocks.
			for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
				for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
					if err := dsyrkCase(rnd, ul, tA, 301, 270, -1, 1); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}

// TestDsyrkBetaZeroNaN checks that beta == 0 overwrites NaNs in the ul
// triangle (gonum's own Dsyrk keeps them for some Uplo/Trans combinations).
func TestDsyrkBetaZeroNaN(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{3, 40, 150} {
			k := 20
			a := randSlice(rnd, n*k)
			for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
				for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
					c := make([]float64, n*n)
					for i := range c {
						c[i] = math.NaN()
					}
					lda := k
					if tA == blas.Trans {
						lda = n
					}
					Implementation{}.Dsyrk(ul, tA, n, k, 1, a, lda, 0, c, n)
					for i := 0; i < n; i++ {
						for j := 0; j < n; j++ {
							in := (ul == blas.Upper) == (j >= i) || i == j
							if in && math.IsNaN(c[i*n+j]) {
								t.Fatalf("n=%d %c %c: NaN survived at (%d,%d)", n, ul, tA, i, j)
							}
						}
					}
				}
			}
		}
	})
}

// randTriangular returns a well-conditioned t×t triangular matrix with stride
// lda. The other triangle, and the diagonal when it is implicitly unit, hold
// NaN so that any read of them shows up in the result.
func randTriangular(rnd *rand.Rand, ul blas.Uplo, d blas.Diag, tri, lda int) []float64 {
	a := randGeneral(rnd, tri, tri, lda, math.NaN())
	for i := 0; i < tri; i++ {
		for j := 0; j < tri; j++ {
			switch {
			case i == j && d == blas.Unit:
				a[i*lda+j] = math.NaN()
			case i == j:
				a[i*lda+j] = (1 + rnd.Float64()) * float64(1-2*rnd.IntN(2))
			case (ul == blas.Upper) == (j > i):
				a[i*lda+j] /= math.Sqrt(float64(tri))
			default:
				a[i*lda+j] = math.NaN()
			}
		}
	}
	return a
}

func dtrsmCase(rnd *rand.Rand, s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64) error {
	tri := n
	if s == blas.Left {
		tri = m
	}
	lda, ldb := randLd(rnd, tri), randLd(rnd, n)
	a := randTriangular(rnd, ul, d, tri, lda)
	b := randGeneral(rnd, m, n, ldb, math.Inf(1))
	want := append([]float64(nil), b...)
	ref.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, want, ldb)
	Implementation{}.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
	if err := checkClose(b, want, m, n, ldb, tol); err != nil {
		return fmt.Errorf("Dtrsm(%c, %c, %c, %c, m=%d, n=%d, alpha=%v, lda=%d, ldb=%d): %v",
			s, ul, tA, d, m, n, alpha, lda, ldb, err)
	}
	return nil
}

func TestDtrsmRandom(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(11, 12))
		sizes := testSizes()
		sides := []blas.Side{blas.Left, blas.Right}
		uplos := []blas.Uplo{blas.Upper, blas.Lower}
		diags := []blas.Diag{blas.NonUnit, blas.Unit}
		for _, s := range sides {
			for _, ul := range uplos {
				for _, tA := range transposes {
					for _, d := range diags {
						for _, alpha := range scalars {
							if err := dtrsmCase(rnd, s, ul, tA, d, 45, 39, alpha); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			}
		}
		for range numCases() {
			err := dtrsmCase(rnd, pick(rnd, sides), pick(rnd, uplos), pick(rnd, transposes), pick(rnd, diags),
				pick(rnd, sizes), pick(rnd, sizes), pick(rnd, scalars))
			if err != nil {
				t.Fatal(err)
			}
		}
		if !raceEnabled && !testing.Short() {
			// The shapes of lapack's Dpotrf (64-wide triangles, long
			// right-hand sides) and large triangles.
			for _, s := range sides {
				for _, ul := range uplos {
					for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
						m, n := 64, 700
						if s == blas.Right {
							m, n = 700, 64
						}
						if err := dtrsmCase(rnd, s, ul, tA, blas.NonUnit, m, n, 1); err != nil {
							t.Fatal(err)
						}
						if err := dtrsmCase(rnd, s, ul, tA, blas.NonUnit, 300, 290, -0.5); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
	})
}

// TestPanics checks that bad arguments panic with gonum's messages.
func TestPanics(t *testing.T) {
	impl := Implementation{}
	a := make([]float64, 100)
	N, T := blas.NoTrans, blas.Trans
	cases := []struct {
		name      string
		got, want func()
	}{
		{"gemm tA", func() { impl.Dgemm('X', N, 2, 2, 2, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm('X', N, 2, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm tB", func() { impl.Dgemm(N, 'X', 2, 2, 2, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm(N, 'X', 2, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm m", func() { impl.Dgemm(N, N, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm(N, N, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm n", func() { impl.Dgemm(N, N, 2, -1, 2, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm(N, N, 2, -1, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm k", func() { impl.Dgemm(N, N, 2, 2, -1, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm(N, N, 2, 2, -1, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm lda", func() { impl.Dgemm(T, N, 3, 2, 2, 1, a, 2, a, 2, 0, a, 2) }, func() { ref.Dgemm(T, N, 3, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"gemm ldb", func() { impl.Dgemm(N, T, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }, func() { ref.Dgemm(N, T, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"gemm ldc", func() { impl.Dgemm(N, N, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) }, func() { ref.Dgemm(N, N, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) }},
		{"gemm short a", func() { impl.Dgemm(N, N, 20, 20, 20, 1, a, 20, a, 20, 0, a, 20) }, func() { ref.Dgemm(N, N, 20, 20, 20, 1, a, 20, a, 20, 0, a, 20) }},
		{"gemm short b", func() { impl.Dgemm(N, N, 2, 20, 20, 1, a, 20, a, 20, 0, a, 20) }, func() { ref.Dgemm(N, N, 2, 20, 20, 1, a, 20, a, 20, 0, a, 20) }},
		{"gemm short c", func() { impl.Dgemm(N, N, 20, 2, 2, 1, a, 2, a, 2, 0, a[:30], 2) }, func() { ref.Dgemm(N, N, 20, 2, 2, 1, a, 2, a, 2, 0, a[:30], 2) }},
		{"syrk uplo", func() { impl.Dsyrk('X', N, 2, 2, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk('X', N, 2, 2, 1, a, 2, 0, a, 2) }},
		{"syrk trans", func() { impl.Dsyrk(blas.Upper, 'X', 2, 2, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk(blas.Upper, 'X', 2, 2, 1, a, 2, 0, a, 2) }},
		{"syrk n", func() { impl.Dsyrk(blas.Upper, N, -1, 2, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk(blas.Upper, N, -1, 2, 1, a, 2, 0, a, 2) }},
		{"syrk k", func() { impl.Dsyrk(blas.Upper, N, 2, -1, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk(blas.Upper, N, 2, -1, 1, a, 2, 0, a, 2) }},
		{"syrk lda", func() { impl.Dsyrk(blas.Upper, N, 2, 3, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk(blas.Upper, N, 2, 3, 1, a, 2, 0, a, 2) }},
		{"syrk ldc", func() { impl.Dsyrk(blas.Upper, N, 3, 2, 1, a, 2, 0, a, 2) }, func() { ref.Dsyrk(blas.Upper, N, 3, 2, 1, a, 2, 0, a, 2) }},
		{"syrk short a", func() { impl.Dsyrk(blas.Lower, T, 20, 20, 1, a, 20, 0, a, 20) }, func() { ref.Dsyrk(blas.Lower, T, 20, 20, 1, a, 20, 0, a, 20) }},
		{"syrk short c", func() { impl.Dsyrk(blas.Lower, T, 20, 2, 1, a, 20, 0, a[:50], 20) }, func() { ref.Dsyrk(blas.Lower, T, 20, 2, 1, a, 20, 0, a[:50], 20) }},
		{"trsm side", func() { impl.Dtrsm('X', blas.Upper, N, blas.Unit, 2, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm('X', blas.Upper, N, blas.Unit, 2, 2, 1, a, 2, a, 2) }},
		{"trsm uplo", func() { impl.Dtrsm(blas.Left, 'X', N, blas.Unit, 2, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, 'X', N, blas.Unit, 2, 2, 1, a, 2, a, 2) }},
		{"trsm trans", func() { impl.Dtrsm(blas.Left, blas.Upper, 'X', blas.Unit, 2, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, 'X', blas.Unit, 2, 2, 1, a, 2, a, 2) }},
		{"trsm diag", func() { impl.Dtrsm(blas.Left, blas.Upper, N, 'X', 2, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, N, 'X', 2, 2, 1, a, 2, a, 2) }},
		{"trsm m", func() { impl.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, -1, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, -1, 2, 1, a, 2, a, 2) }},
		{"trsm n", func() { impl.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 2, -1, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 2, -1, 1, a, 2, a, 2) }},
		{"trsm lda", func() { impl.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 3, 2, 1, a, 2, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 3, 2, 1, a, 2, a, 2) }},
		{"trsm ldb", func() { impl.Dtrsm(blas.Right, blas.Upper, N, blas.Unit, 2, 3, 1, a, 3, a, 2) }, func() { ref.Dtrsm(blas.Right, blas.Upper, N, blas.Unit, 2, 3, 1, a, 3, a, 2) }},
		{"trsm short a", func() { impl.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 20, 2, 1, a[:50], 20, a, 2) }, func() { ref.Dtrsm(blas.Left, blas.Upper, N, blas.Unit, 20, 2, 1, a[:50], 20, a, 2) }},
		{"trsm short b", func() { impl.Dtrsm(blas.Right, blas.Upper, N, blas.Unit, 20, 20, 1, a, 20, a[:50], 20) }, func() { ref.Dtrsm(blas.Right, blas.Upper, N, blas.Unit, 20, 20, 1, a, 20, a[:50], 20) }},
	}
	for _, c := range cases {
		got, want := panicMsg(c.got), panicMsg(c.want)
		if want == nil {
			t.Fatalf("%s: test case does not panic in gonum", c.name)
		}
		if got != want {
			t.Errorf("%s: panic %v, want %v", c.name, got, want)
		}
	}
}
