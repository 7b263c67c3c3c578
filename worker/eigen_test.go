package worker

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/hessian-cluster/hess/hessian"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// tileState returns the state FetchTile reports for tile (0, 0).
func tileState(t *testing.T, c pb.WorkerClient, step uint64) pb.TileState {
	t.Helper()
	stream, err := c.FetchTile(t.Context(), &pb.FetchTileRequest{JobId: "j", Step: step})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	for { // drain the tile
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	return msg.GetState()
}

// TestReductionCallsInOrder: the reduction's calls refuse malformed requests with
// INVALID_ARGUMENT naming the field and calls out of order with FAILED_PRECONDITION
// naming the position, repeat idempotently, and keep the destroyed tiles from Factor and
// CountNonzeros until the next Assemble.
func TestReductionCallsInOrder(t *testing.T) {
	_, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	if _, err := c.StartJob(ctx, startJobRequest("j", d, "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	if err := upload(ctx, c, "j", d, hdr, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: "j", Step: 1})
	wantStatus(t, "ReduceStart before Assemble", err, codes.FailedPrecondition, "not 1")
	_, err = c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 32})
	wantStatus(t, "FetchPanel before Assemble", err, codes.FailedPrecondition, "not 1")
	w := make([]float64, hessian.Params)
	if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: w}); err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 32})
	wantStatus(t, "FetchPanel before ReduceStart", err, codes.FailedPrecondition, "ReduceStart first")
	start, err := c.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: "j", Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	// eps = 0.001 (startJobRequest): H + R has no zero row; its largest entry is on the
	// diagonal, at most 0.25 (the images' pixels are below 1) plus R's 0.082.
	if m := start.GetMaxAbs(); !(m > 0 && m < 0.34) || len(start.GetNonzeroRows()) != 980 {
		t.Errorf("ReduceStart = max %g with %d bytes of rows; want 0 < max < 0.34 and 980 bytes", m, len(start.GetNonzeroRows()))
	}
	for i, b := range start.GetNonzeroRows() {
		if b != 0xff {
			t.Fatalf("rows %d..%d: bits %08b; want all non-zero (the penalty touches every row)", 8*i, 8*i+7, b)
		}
	}
	again, err := c.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: "j", Step: 1})
	if err != nil || !proto.Equal(again, start) {
		t.Errorf("repeated ReduceStart = %v, %v; want the same answer", again, err)
	}
	if st := tileState(t, c, 1); st != pb.TileState_TILE_STATE_REDUCED {
		t.Errorf("tile state %v; want REDUCED", st)
	}
	_, err = c.Factor(ctx, &pb.FactorRequest{JobId: "j", Step: 1})
	wantStatus(t, "Factor after ReduceStart", err, codes.FailedPrecondition, "destroyed by a tridiagonal reduction")
	stream, err := c.CountNonzeros(ctx, &pb.CountNonzerosRequest{JobId: "j", Step: 1, Cell: 10})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, "CountNonzeros after ReduceStart", err, codes.FailedPrecondition, "REDUCED")

	for _, tc := range []struct {
		req     *pb.FetchPanelRequest
		mention string
	}{
		{&pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 7841}, "end: panel [0, 7841)"},
		{&pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 5, End: 5}, "end: panel [5, 5)"},
		{&pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 33}, "above 250880"},
	} {
		_, err := c.FetchPanel(ctx, tc.req)
		wantStatus(t, "FetchPanel", err, codes.InvalidArgument, tc.mention)
	}
	panel, err := c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 32})
	if err != nil {
		t.Fatal(err)
	}
	var values int
	for _, b := range panel.GetBlocks() {
		values += len(b.GetValues())
	}
	if len(panel.GetBlocks()) != 8 || values != hessian.Params*32 {
		t.Errorf("panel [0, 32): %d blocks, %d values; want 8 blocks (tile column 0), %d values", len(panel.GetBlocks()), values, hessian.Params*32)
	}

	v := make([]float64, hessian.Params-4) // column 3: rows 4..7839
	for i := range v {
		v[i] = math.Sin(float64(i))
	}
	for _, tc := range []struct {
		req     *pb.ReduceColumnRequest
		mention string
	}{
		{&pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 33, Column: 3, Vector: v}, "panel_end: panel [0, 33) of 33 columns, above 32"},
		{&pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, Column: 32, Vector: v}, "column: 32"},
		{&pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, Column: 4, Vector: v}, "vector: 7836 values for column 4, want 7835"},
		{&pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, Column: 3, Vector: withNaN(v, 9)}, "vector: value 9 is NaN"},
	} {
		_, err := c.ReduceColumn(ctx, tc.req)
		wantStatus(t, "ReduceColumn", err, codes.InvalidArgument, tc.mention)
	}
	req := &pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, Column: 3, Vector: v}
	first, err := c.ReduceColumn(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetProducts()) != 8 || first.GetProducts()[0].GetFirst() != 4 || len(first.GetProducts()[0].GetValues()) != 1020 {
		t.Errorf("products of column 3: %d blocks, the first from row %d with %d values; want 8, 4, 1020", len(first.GetProducts()),
			first.GetProducts()[0].GetFirst(), len(first.GetProducts()[0].GetValues()))
	}
	if again, err := c.ReduceColumn(ctx, req); err != nil || !proto.Equal(again, first) {
		t.Errorf("repeated ReduceColumn: %v; want the same products", err)
	}
	_, err = c.ReduceColumn(ctx, &pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, Column: 2, Vector: slices.Concat([]float64{1}, v)})
	wantStatus(t, "column going back", err, codes.FailedPrecondition, "column 2 after column 3")
	_, err = c.ReduceColumn(ctx, &pb.ReduceColumnRequest{JobId: "j", Step: 1, PanelBegin: 32, PanelEnd: 64, Column: 33, Vector: v[30:]})
	wantStatus(t, "another panel", err, codes.FailedPrecondition, "panel [0, 32) is open")
	_, err = c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 32, End: 64})
	wantStatus(t, "FetchPanel of another panel", err, codes.FailedPrecondition, "panel [0, 32) is open")

	wcol := make([]float64, hessian.Params-32) // rows 32..7839
	for i := range wcol {
		wcol[i] = 1e-3 * math.Cos(float64(i))
	}
	for _, tc := range []struct {
		w       []*pb.PanelColumn
		code    codes.Code
		mention string
	}{
		{nil, codes.FailedPrecondition, "ReduceColumn gave 1 (columns [3])"},
		{[]*pb.PanelColumn{{Column: 4, Values: wcol}}, codes.FailedPrecondition, "is for column 4"},
		{[]*pb.PanelColumn{{Column: 3, Values: wcol[1:]}}, codes.InvalidArgument, "w: column 3 has 7807 values, want 7808"},
		{[]*pb.PanelColumn{{Column: 3, Values: withNaN(wcol, 0)}}, codes.InvalidArgument, "w: column 3, value 0 is NaN"},
	} {
		_, err := c.UpdateTrailing(ctx, &pb.UpdateTrailingRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, W: tc.w})
		wantStatus(t, "UpdateTrailing", err, tc.code, tc.mention)
	}
	upd := &pb.UpdateTrailingRequest{JobId: "j", Step: 1, PanelBegin: 0, PanelEnd: 32, W: []*pb.PanelColumn{{Column: 3, Values: wcol}}}
	resp, err := c.UpdateTrailing(ctx, upd)
	if err != nil || resp.GetTiles() != 36 {
		t.Fatalf("UpdateTrailing = %v, %v; want 36 tiles updated (all 8 x 9 / 2 of them meet rows 32..)", resp, err)
	}
	if resp, err := c.UpdateTrailing(ctx, upd); err != nil || resp.GetTiles() != 0 {
		t.Errorf("repeated UpdateTrailing = %v, %v; want an answer that changes nothing", resp, err)
	}
	_, err = c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 0, End: 32})
	wantStatus(t, "FetchPanel of a panel applied", err, codes.FailedPrecondition, "the columns before 32 are done")
	_, err = c.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: "j", Step: 1})
	wantStatus(t, "ReduceStart during a reduction", err, codes.FailedPrecondition, "Assemble again")
	// Panels move forward: the coordinator may skip panels without reflectors.
	if _, err := c.FetchPanel(ctx, &pb.FetchPanelRequest{JobId: "j", Step: 1, Begin: 96, End: 128}); err != nil {
		t.Errorf("FetchPanel of a later panel: %v", err)
	}

	// A new Assemble restores the tiles and starts over.
	if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 2, Weights: w}); err != nil {
		t.Fatal(err)
	}
	if st := tileState(t, c, 2); st != pb.TileState_TILE_STATE_ASSEMBLED {
		t.Errorf("tile state after Assemble %v; want ASSEMBLED", st)
	}
	if again, err := c.ReduceStart(ctx, &pb.ReduceStartRequest{JobId: "j", Step: 2}); err != nil || again.GetMaxAbs() != start.GetMaxAbs() {
		t.Errorf("ReduceStart of step 2 = %v, %v; want the max of step 1, %g", again, err, start.GetMaxAbs())
	}
}

// withNaN returns a copy of v with a NaN at i.
func withNaN(v []float64, i int) []float64 {
	out := slices.Clone(v)
	out[i] = math.NaN()
	return out
}
