package clusterplan

import "fmt"

// This file holds the layout questions of the distributed tridiagonal reduction: which
// parts of a worker's tiles form a panel of columns, and which workers hold the trailing
// matrix that the reduction still works on.

// Rect is the part of tile Tile in rows [R0, R0+Rows) and columns [C0, C0+Cols) of the
// matrix.
type Rect struct {
	Tile     Tile
	R0, Rows int
	C0, Cols int
}

// PanelRects returns the parts of worker rank's tiles inside rows [begin, N) and columns
// [begin, end) of the matrix, one per own tile that meets that rectangle, in Owned order
// (tile column, then tile row, increasing). A diagonal tile's part includes entries
// above the diagonal, which the lower storage does not define. Bad bounds panic.
func (p Plan) PanelRects(rank, begin, end int) []Rect {
	if begin < 0 || end <= begin || end > p.N {
		panic(fmt.Sprintf("clusterplan: panel [%d, %d) of a matrix of order %d", begin, end, p.N))
	}
	var out []Rect
	for _, t := range p.Owned(rank) {
		r0, m := p.Span(t.I)
		c0, n := p.Span(t.J)
		ca, cb := max(c0, begin), min(c0+n, end)
		ra, rb := max(r0, begin), r0+m
		if ca >= cb || ra >= rb {
			continue
		}
		out = append(out, Rect{Tile: t, R0: ra, Rows: rb - ra, C0: ca, Cols: cb - ca})
	}
	return out
}

// TrailingRanks returns the ranks, increasing, of the workers that own a tile meeting
// the trailing matrix rows and columns [from, N): the workers a product with the
// trailing matrix needs. from >= N gives none.
func (p Plan) TrailingRanks(from int) []int {
	if from >= p.N {
		return nil
	}
	first := max(from, 0) / p.TileSize
	nt := p.Tiles()
	seen := make([]bool, p.Workers())
	for j := first; j < nt && j < first+p.Cols; j++ {
		for i := j; i < nt && i < j+p.Rows; i++ {
			seen[p.Owner(Tile{I: i, J: j})] = true
		}
	}
	var out []int
	for r, ok := range seen {
		if ok {
			out = append(out, r)
		}
	}
	return out
}
