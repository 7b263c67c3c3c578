package clusterplan

import (
	"fmt"
	"slices"
	"testing"
)

// TestPanelRects checks that the workers' rectangles of a panel lie in their own tiles
// and in the panel, and together cover every entry of the panel on or below the
// diagonal exactly once, for grids of 1 to 6 workers and tiles that do and do not
// divide the order.
func TestPanelRects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, p, ts int }{{50, 1, 50}, {50, 2, 8}, {53, 3, 10}, {61, 4, 7}, {40, 6, 5}} {
		p, err := New(tc.n, tc.p, tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		for _, panel := range [][2]int{{0, 4}, {3, 11}, {9, 10}, {20, tc.n}, {tc.n - 1, tc.n}} {
			t.Run(fmt.Sprintf("n=%d/p=%d/tile=%d/panel=%v", tc.n, tc.p, tc.ts, panel), func(t *testing.T) {
				b, e := panel[0], panel[1]
				seen := make([]int, tc.n*tc.n)
				for rank := range p.Workers() {
					for _, rc := range p.PanelRects(rank, b, e) {
						if p.Owner(rc.Tile) != rank {
							t.Fatalf("rank %d got a rectangle of tile %v, owned by %d", rank, rc.Tile, p.Owner(rc.Tile))
						}
						r0, m := p.Span(rc.Tile.I)
						c0, n := p.Span(rc.Tile.J)
						if rc.R0 < max(r0, b) || rc.R0+rc.Rows > r0+m || rc.C0 < max(c0, b) || rc.C0+rc.Cols > min(c0+n, e) || rc.Rows < 1 || rc.Cols < 1 {
							t.Fatalf("rectangle %+v is not inside tile %v and the panel", rc, rc.Tile)
						}
						for i := rc.R0; i < rc.R0+rc.Rows; i++ {
							for j := rc.C0; j < rc.C0+rc.Cols; j++ {
								seen[i*tc.n+j]++
							}
						}
					}
				}
				for i := b; i < tc.n; i++ {
					for j := b; j < e && j <= i; j++ {
						if seen[i*tc.n+j] != 1 {
							t.Fatalf("entry (%d, %d) covered %d times", i, j, seen[i*tc.n+j])
						}
					}
				}
			})
		}
	}
}

// TestTrailingRanks compares TrailingRanks with the owners of all tiles that meet the
// trailing matrix.
func TestTrailingRanks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, p, ts int }{{50, 1, 50}, {50, 2, 8}, {53, 3, 10}, {61, 4, 7}, {40, 6, 5}, {100, 9, 7}} {
		p, err := New(tc.n, tc.p, tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		for from := 0; from <= tc.n; from++ {
			var want []int
			for i := range p.Tiles() {
				for j := 0; j <= i; j++ {
					r0, m := p.Span(i)
					c0, n := p.Span(j)
					if r0+m > from && c0+n > from && !slices.Contains(want, p.Owner(Tile{i, j})) {
						want = append(want, p.Owner(Tile{i, j}))
					}
				}
			}
			slices.Sort(want)
			if got := p.TrailingRanks(from); !slices.Equal(got, want) {
				t.Errorf("n=%d p=%d tile=%d: TrailingRanks(%d) = %v; want %v", tc.n, tc.p, tc.ts, from, got, want)
			}
		}
	}
}
