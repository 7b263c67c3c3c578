package worker

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// maxRunCounts is the most counts a CountNonzeros message carries (at most 640 KB).
const maxRunCounts = 131072

// CountNonzeros streams the non-zero counts of the cells of the worker's tiles.
func (s *Server) CountNonzeros(req *pb.CountNonzerosRequest, stream pb.Worker_CountNonzerosServer) error {
	j, unlock, err := s.readTiles(req.GetJobId(), req.GetStep(), pb.TileState_TILE_STATE_UNSPECIFIED)
	if err != nil {
		return err
	}
	defer unlock()
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	if st != stateAssembled {
		return failed("job %q: the tiles of step %d are %v, not as assembled (Assemble again)", j.spec.id, req.GetStep(), st)
	}
	cell := int(req.GetCell())
	if cell < 1 || cell > j.spec.plan.N {
		return status.Errorf(codes.InvalidArgument, "worker: cell: %d, want 1 to %d entries", cell, j.spec.plan.N)
	}
	ctx, cancel := j.context(stream.Context())
	defer cancel()
	tiles := j.tiles
	counts := make([][]uint32, len(tiles))
	if err := parallel(ctx, s.cfg.Parallelism, len(tiles), func(i int) { counts[i] = cellCounts(tiles[i], cell) }); err != nil {
		return clusterrpc.StatusOf(err)
	}
	msg := &pb.CountNonzerosResponse{}
	size := 0
	for i, t := range tiles {
		a0, b0 := t.r0/cell, t.c0/cell
		a1, b1 := (t.r0+t.m-1)/cell, (t.c0+t.n-1)/cell
		gc := b1 - b0 + 1
		for a := a0; a <= a1; a++ {
			// The lower cells of cell row a: columns b0..min(a, b1).
			hi := min(a, b1)
			if hi < b0 {
				continue
			}
			run := counts[i][(a-a0)*gc : (a-a0)*gc+hi-b0+1]
			for len(run) > 0 {
				k := min(len(run), maxRunCounts-size)
				msg.Runs = append(msg.Runs, &pb.CellRun{Row: uint32(a), Col: uint32(hi - len(run) + 1), Counts: run[:k]})
				run, size = run[k:], size+k
				if size == maxRunCounts {
					if err := stream.Send(msg); err != nil {
						return err
					}
					msg, size = &pb.CountNonzerosResponse{}, 0
				}
			}
		}
	}
	if len(msg.Runs) > 0 {
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	s.metrics.tasks.WithLabelValues("count_nonzeros").Inc()
	return nil
}

// cellCounts returns the non-zero counts of tile t's lower triangle per cell x cell cell
// of the whole matrix, row-major over the cells the tile meets (cell rows r0/cell ..
// (r0+m-1)/cell, columns likewise): an entry below the diagonal counts once in a cell
// below the diagonal and twice in a diagonal cell (its mirror above the diagonal falls
// in the same cell), a diagonal entry once. Entries above the diagonal (in a diagonal
// tile) are not read.
func cellCounts(t *tile, cell int) []uint32 {
	a0, b0 := t.r0/cell, t.c0/cell
	gc := (t.c0+t.n-1)/cell - b0 + 1
	out := make([]uint32, ((t.r0+t.m-1)/cell-a0+1)*gc)
	for r := t.r0; r < t.r0+t.m; r++ {
		row := t.data[(r-t.r0)*t.n : (r-t.r0+1)*t.n]
		a := r / cell
		end := min(t.c0+t.n, r+1) // the lower triangle: columns up to r
		dst := out[(a-a0)*gc:]
		for b := b0; b*cell < end; b++ {
			lo, hi := max(t.c0, b*cell), min(end, (b+1)*cell)
			var k uint32
			for _, v := range row[lo-t.c0 : hi-t.c0] {
				if v != 0 {
					k++
				}
			}
			if a == b {
				// Below the diagonal twice, the diagonal entry (column r, if here) once.
				k *= 2
				if hi == r+1 && row[r-t.c0] != 0 {
					k--
				}
			}
			dst[b-b0] += k
		}
	}
	return out
}
