// Package clusterplan is the tile layout of the distributed Hessian: which worker owns
// which tile, and which tiles each finished tile of the Cholesky factor must reach. It is
// pure (no I/O, no state), so the coordinator and every worker compute the same answers
// from the same Plan, and a later version can re-plan around a lost worker by calling New
// with the survivors.
//
// # Layout
//
// The N x N symmetric matrix is cut into tiles of TileSize x TileSize; when TileSize does
// not divide N the last tile row and column are narrower (N - (T-1)*TileSize), where
// T = ceil(N/TileSize) is the number of tile rows. Only the lower tiles (I >= J) exist.
// The P workers form a Rows x Cols process grid (Rows*Cols = P, as square as the divisors
// of P allow, Rows <= Cols), and tile (I, J) belongs to worker
//
//	(I mod Rows)*Cols + (J mod Cols)
//
// the 2D block-cyclic layout of ScaLAPACK (Blackford et al., ScaLAPACK Users' Guide,
// 1997, section 4.3). Neighbouring tiles belong to different workers, so every step of the
// right-looking factorization keeps all workers busy, and a tile of the factor only has to
// reach the workers of one process row and one process column.
//
// # Dependencies of the tiled Cholesky factorization
//
// For tile (I, J): A_IJ -= L_IK L_JK^T for K = 0..J-1, then L_JJ = chol(A_JJ) if I = J,
// else L_IJ = A_IJ L_JJ^-T (Buttari, Langou, Kurzak, Dongarra, "A class of parallel tiled
// linear algebra algorithms for multicore architectures", Parallel Computing 35, 2009).
// So a finished diagonal tile L_KK is read by the tiles (I, K), I > K, and a finished
// off-diagonal tile L_IK by the tiles (I, J), K < J <= I, and (I', I), I' > I
// (Consumers). Its owner sends it once to each other worker that owns one of those
// (Recipients).
package clusterplan

import (
	"fmt"
	"slices"
)

// Tile names the tile in tile row I and tile column J.
type Tile struct{ I, J int }

// String formats the tile as (I,J), the form error messages use.
func (t Tile) String() string { return fmt.Sprintf("(%d,%d)", t.I, t.J) }

// Plan is a tile layout over a process grid. The zero value is not a valid plan: use New.
type Plan struct {
	N        int // matrix order
	TileSize int // side of a full tile
	Rows     int // process grid rows
	Cols     int // process grid columns
}

// Grid returns the process grid of p workers: rows*cols = p with rows <= cols and rows the
// largest divisor of p not above sqrt(p). Two workers give 1x2, three 1x3, four 2x2, five
// 1x5, six 2x3.
func Grid(p int) (rows, cols int) {
	if p < 1 {
		panic(fmt.Sprintf("clusterplan: grid of %d workers", p))
	}
	rows = 1
	for r := 1; r*r <= p; r++ {
		if p%r == 0 {
			rows = r
		}
	}
	return rows, p / rows
}

// DefaultTileSize is the tile size the coordinator chooses for an n x n matrix over p
// workers when none is asked for: 240, or its half while there are fewer than two tile
// rows per process row and column. 240 parameters are 24 whole pixels, the sub-block of
// the Hessian kernel (hessian.Curvature.AddBlock), so a tile is assembled in one pass over
// the images and diagonal tiles take the kernel's triangular path; 240 x 240 doubles
// (450 KB) keep the BLAS calls efficient while 33 tile rows of N = 7840 leave enough
// independent tasks for look-ahead on up to 16 workers.
func DefaultTileSize(n, p int) int {
	rows, cols := Grid(p)
	ts := 240
	for ts > 30 && (n+ts-1)/ts < 2*max(rows, cols) {
		ts /= 2
	}
	return ts
}

// New returns the plan of an n x n matrix over p workers with tiles of tileSize, or of
// DefaultTileSize when tileSize is 0.
func New(n, p, tileSize int) (Plan, error) {
	if n < 1 {
		return Plan{}, fmt.Errorf("clusterplan: matrix order %d, want >= 1", n)
	}
	if p < 1 {
		return Plan{}, fmt.Errorf("clusterplan: %d workers, want >= 1", p)
	}
	if tileSize == 0 {
		tileSize = DefaultTileSize(n, p)
	}
	if tileSize < 1 {
		return Plan{}, fmt.Errorf("clusterplan: tile size %d, want >= 1 (0 chooses)", tileSize)
	}
	rows, cols := Grid(p)
	return Plan{N: n, TileSize: min(tileSize, n), Rows: rows, Cols: cols}, nil
}

// Validate checks a plan that came from elsewhere (the network).
func (p Plan) Validate() error {
	if p.N < 1 || p.TileSize < 1 || p.TileSize > p.N || p.Rows < 1 || p.Cols < 1 {
		return fmt.Errorf("clusterplan: invalid plan: order %d, tile size %d, grid %dx%d", p.N, p.TileSize, p.Rows, p.Cols)
	}
	return nil
}

// Workers returns the number of workers, Rows*Cols.
func (p Plan) Workers() int { return p.Rows * p.Cols }

// Tiles returns the number of tile rows (and columns), ceil(N/TileSize).
func (p Plan) Tiles() int { return (p.N + p.TileSize - 1) / p.TileSize }

// Span returns the first row and the number of rows of tile row i (also the columns of
// tile column i).
func (p Plan) Span(i int) (start, size int) {
	start = i * p.TileSize
	return start, min(p.TileSize, p.N-start)
}

// Owner returns the rank of the worker that holds tile t.
func (p Plan) Owner(t Tile) int { return (t.I%p.Rows)*p.Cols + t.J%p.Cols }

// Owned returns the lower tiles of worker rank, column by column (J, then I increasing).
func (p Plan) Owned(rank int) []Tile {
	var out []Tile
	nt := p.Tiles()
	for j := rank % p.Cols; j < nt; j += p.Cols {
		for i := j; i < nt; i++ {
			if p.Owner(Tile{i, j}) == rank {
				out = append(out, Tile{i, j})
			}
		}
	}
	return out
}

// Consumers returns the tiles whose factorization reads the finished factor tile t:
// (I, K), I > K, for a diagonal t = (K, K); (I, J), K < J <= I, and (I', I), I' > I, for
// t = (I, K), I > K.
func (p Plan) Consumers(t Tile) []Tile {
	nt := p.Tiles()
	var out []Tile
	if t.I == t.J {
		for i := t.I + 1; i < nt; i++ {
			out = append(out, Tile{i, t.J})
		}
		return out
	}
	for j := t.J + 1; j <= t.I; j++ {
		out = append(out, Tile{t.I, j})
	}
	for i := t.I + 1; i < nt; i++ {
		out = append(out, Tile{i, t.I})
	}
	return out
}

// Recipients returns the ranks, increasing, of the workers other than t's owner that hold
// a consumer of t: where t's owner sends it.
func (p Plan) Recipients(t Tile) []int {
	own := p.Owner(t)
	var out []int
	for _, c := range p.Consumers(t) {
		if r := p.Owner(c); r != own && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// TileBytes returns the size of tile t's values in bytes (8 per float64).
func (p Plan) TileBytes(t Tile) int64 {
	_, m := p.Span(t.I)
	_, n := p.Span(t.J)
	return 8 * int64(m) * int64(n)
}

// FactorTraffic returns how many tile transfers and payload bytes one factorization needs
// between workers in this layout: every finished tile to each of its Recipients once.
// No schedule can move less without computing a tile twice, so it is the lower bound that
// the measured traffic is compared with.
func (p Plan) FactorTraffic() (tiles int, bytes int64) {
	nt := p.Tiles()
	for j := range nt {
		for i := j; i < nt; i++ {
			t := Tile{i, j}
			r := len(p.Recipients(t))
			tiles += r
			bytes += int64(r) * p.TileBytes(t)
		}
	}
	return tiles, bytes
}

// StoredBytes returns the bytes of the tiles worker rank holds.
func (p Plan) StoredBytes(rank int) int64 {
	var b int64
	for _, t := range p.Owned(rank) {
		b += p.TileBytes(t)
	}
	return b
}
