package worker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
	"github.com/hessian-cluster/hess/internal/clusterplan"
	"github.com/hessian-cluster/hess/internal/clusterrpc"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testWorker starts one loopback worker and returns a client of it.
func testWorker(t *testing.T) (*Server, pb.WorkerClient) {
	t.Helper()
	lb, err := StartLoopback(1, Config{GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clusterrpc.Dial(lb.Addrs[0], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		if err := lb.Close(); err != nil {
			t.Error(err)
		}
	})
	return lb.Servers[0], pb.NewWorkerClient(conn)
}

// tinySet is a training set of three images.
func tinySet() *hessian.Dataset {
	b := hessian.NewBuilder(3)
	for i := range 3 {
		raw := make([]uint8, hessian.Pixels)
		for j := 100 + i; j < 300; j += 7 {
			raw[j] = uint8(40 + j%200)
		}
		b.AddDense(uint8(i), raw)
	}
	return b.Dataset()
}

// startJobRequest is a valid StartJob request for d on one worker.
func startJobRequest(id string, d *hessian.Dataset, addr string) *pb.StartJobRequest {
	sum, _ := clusterrpc.DataDigest(d)
	return &pb.StartJobRequest{
		JobId: id, Plan: &pb.Plan{Order: hessian.Params, TileSize: 1024, GridRows: 1, GridCols: 1, Workers: []string{addr}},
		Eps: 0.001, DataSha256: sum[:], Images: uint64(d.Len()), Nonzeros: uint64(d.NonZeros()),
	}
}

// upload streams d's encoding (split in chunks of chunk bytes) to job id.
func upload(ctx context.Context, c pb.WorkerClient, id string, d *hessian.Dataset, hdr *pb.DataHeader, data []byte, chunk int) error {
	stream, err := c.UploadData(ctx)
	if err != nil {
		return err
	}
	for lo := 0; lo < len(data) || lo == 0; lo += chunk {
		msg := &pb.UploadDataRequest{JobId: id, Chunk: data[lo:min(lo+chunk, len(data))]}
		if lo == 0 {
			msg.Header = hdr
		}
		if err := stream.Send(msg); err != nil {
			break // CloseAndRecv says why
		}
		if len(data) == 0 {
			break
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

func encode(d *hessian.Dataset) ([]byte, *pb.DataHeader) {
	r := clusterrpc.NewDataReader(d)
	b, _ := io.ReadAll(r)
	sum := sha256.Sum256(b)
	return b, &pb.DataHeader{Sha256: sum[:], Images: uint64(d.Len()), Nonzeros: uint64(d.NonZeros()), Size: uint64(len(b))}
}

// wantStatus checks err's code and that its message names the thing at fault.
func wantStatus(t *testing.T, what string, err error, code codes.Code, mention string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: %v; want %v mentioning %q", what, err, code, mention)
	}
}

func TestStartJobRefusesBadRequests(t *testing.T) {
	_, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	for _, tc := range []struct {
		name    string
		mutate  func(r *pb.StartJobRequest)
		mention string
	}{
		{"no job id", func(r *pb.StartJobRequest) { r.JobId = "" }, "job_id"},
		{"no plan", func(r *pb.StartJobRequest) { r.Plan = nil }, "plan"},
		{"order", func(r *pb.StartJobRequest) { r.Plan.Order = 100 }, "plan.order"},
		{"tile size 0", func(r *pb.StartJobRequest) { r.Plan.TileSize = 0 }, "tile size 0"},
		{"tile size > N", func(r *pb.StartJobRequest) { r.Plan.TileSize = 9000 }, "tile size 9000"},
		{"grid", func(r *pb.StartJobRequest) { r.Plan.GridCols = 2 }, "plan.workers"},
		{"rank", func(r *pb.StartJobRequest) { r.Rank = 1 }, "rank"},
		{"eps NaN", func(r *pb.StartJobRequest) { r.Eps = math.NaN() }, "eps"},
		{"eps negative", func(r *pb.StartJobRequest) { r.Eps = -1 }, "eps"},
		{"hash", func(r *pb.StartJobRequest) { r.DataSha256 = r.DataSha256[:5] }, "data_sha256"},
		{"no images", func(r *pb.StartJobRequest) { r.Images = 0 }, "images"},
		{"huge images", func(r *pb.StartJobRequest) { r.Images = 1 << 62 }, "images"},
		{"nonzeros", func(r *pb.StartJobRequest) { r.Nonzeros = 785 * r.Images }, "nonzeros"},
	} {
		req := startJobRequest("j", d, "127.0.0.1:1")
		tc.mutate(req)
		_, err := c.StartJob(ctx, req)
		wantStatus(t, tc.name, err, codes.InvalidArgument, tc.mention)
	}
	// The same request twice is fine; the same id with other arguments is not.
	req := startJobRequest("j", d, "127.0.0.1:1")
	for range 2 {
		if resp, err := c.StartJob(ctx, req); err != nil || resp.GetDataCached() {
			t.Fatalf("StartJob = %v, %v; want a job without data", resp, err)
		}
	}
	req.Eps = 0.5
	_, err := c.StartJob(ctx, req)
	wantStatus(t, "same id, other eps", err, codes.AlreadyExists, "other parameters")
}

func TestUploadRefusesBadData(t *testing.T) {
	s, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	if _, err := c.StartJob(ctx, startJobRequest("j", d, "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	clone := func(f func(h *pb.DataHeader)) *pb.DataHeader {
		h := &pb.DataHeader{Sha256: hdr.Sha256, Images: hdr.Images, Nonzeros: hdr.Nonzeros, Size: hdr.Size}
		f(h)
		return h
	}
	corrupt := append([]byte(nil), data...)
	corrupt[len(corrupt)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		hdr     *pb.DataHeader
		data    []byte
		code    codes.Code
		mention string
	}{
		{"no header", nil, data, codes.InvalidArgument, "header"},
		{"other images", clone(func(h *pb.DataHeader) { h.Images = 4 }), data, codes.InvalidArgument, "differs from the job"},
		{"truncated", hdr, data[:len(data)-3], codes.InvalidArgument, "ended after"},
		{"too long", hdr, append(append([]byte(nil), data...), 1), codes.InvalidArgument, "longer than"},
		{"corrupt", hdr, corrupt, codes.InvalidArgument, "SHA-256"},
	} {
		err := upload(ctx, c, "j", d, tc.hdr, tc.data, 50)
		wantStatus(t, tc.name, err, tc.code, tc.mention)
	}
	if s.DataBytesReceived() != 0 {
		t.Errorf("bad uploads were cached: %d bytes", s.DataBytesReceived())
	}
	if err := upload(ctx, c, "j", d, hdr, data, 50); err != nil {
		t.Fatalf("good upload: %v", err)
	}
	// Unknown job.
	err := upload(ctx, c, "nosuch", d, hdr, data, 50)
	wantStatus(t, "unknown job", err, codes.NotFound, "nosuch")
}

// TestHugeHeaderAllocatesNothing: a header announcing more data than the worker accepts
// is refused before anything is allocated.
func TestHugeHeaderAllocatesNothing(t *testing.T) {
	_, c := testWorker(t)
	ctx := t.Context()
	req := startJobRequest("j", tinySet(), "127.0.0.1:1")
	req.Images, req.Nonzeros = clusterrpc.MaxImages, clusterrpc.MaxImages*700
	if _, err := c.StartJob(ctx, req); err != nil {
		t.Fatal(err)
	}
	hdr := &pb.DataHeader{Sha256: req.DataSha256, Images: req.Images, Nonzeros: req.Nonzeros, Size: clusterrpc.DataSize(req.Images, req.Nonzeros)}
	err := upload(ctx, c, "j", nil, hdr, []byte{1}, 1)
	wantStatus(t, "huge set", err, codes.InvalidArgument, "above this worker's limit")
}

// TestCallsInOrder: calls before their prerequisites fail with FAILED_PRECONDITION,
// malformed ones with INVALID_ARGUMENT naming the field, and a full step works.
func TestCallsInOrder(t *testing.T) {
	_, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	if _, err := c.StartJob(ctx, startJobRequest("j", d, "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	w := make([]float64, hessian.Params)
	_, err := c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "j", Weights: w, End: 3})
	wantStatus(t, "Evaluate before data", err, codes.FailedPrecondition, "UploadData first")
	data, hdr := encode(d)
	if err := upload(ctx, c, "j", d, hdr, data, 1000); err != nil {
		t.Fatal(err)
	}
	_, err = c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "j", Weights: w[:10], End: 3})
	wantStatus(t, "short weights", err, codes.InvalidArgument, "weights have 10 values")
	bad := append([]float64(nil), w...)
	bad[17] = math.Inf(1)
	_, err = c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "j", Weights: bad, End: 3})
	wantStatus(t, "Inf weight", err, codes.InvalidArgument, "weight 17 (pixel 1, class 7)")
	_, err = c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "j", Weights: w, Begin: 2, End: 4})
	wantStatus(t, "shard", err, codes.InvalidArgument, "[2, 4) of a set of 3")
	if resp, err := c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "j", Weights: w, End: 3, Gradient: true}); err != nil || resp.GetImages() != 3 || len(resp.GetGradient()) != hessian.Params {
		t.Fatalf("Evaluate = %v, %v", resp, err)
	}
	_, err = c.Factor(ctx, &pb.FactorRequest{JobId: "j", Step: 1})
	wantStatus(t, "Factor before Assemble", err, codes.FailedPrecondition, "not 1")
	_, err = c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: w, Damping: math.NaN()})
	wantStatus(t, "NaN damping", err, codes.InvalidArgument, "damping")
	if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: w}); err != nil {
		t.Fatal(err)
	}
	_, err = c.TriangularStep(ctx, &pb.TriangularStepRequest{JobId: "j", Step: 1, Solve: true, Vector: make([]float64, 1024)})
	wantStatus(t, "solve before Factor", err, codes.FailedPrecondition, "Factor first")
	_, err = c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 0, Weights: w})
	wantStatus(t, "older step", err, codes.FailedPrecondition, "after step 1")
	for _, tc := range []struct {
		req     *pb.FetchTileRequest
		mention string
	}{
		{&pb.FetchTileRequest{JobId: "j", Step: 1, Row: 8, Col: 0}, "row < 8"},
		{&pb.FetchTileRequest{JobId: "j", Step: 1, Row: 1, Col: 2}, "col <= row"},
	} {
		stream, err := c.FetchTile(ctx, tc.req)
		if err == nil {
			_, err = stream.Recv()
		}
		wantStatus(t, "FetchTile", err, codes.InvalidArgument, tc.mention)
	}
	if _, err := c.Factor(ctx, &pb.FactorRequest{JobId: "j", Step: 1}); err != nil {
		t.Fatalf("Factor: %v", err)
	}
	for _, tc := range []struct {
		req     *pb.TriangularStepRequest
		mention string
	}{
		{&pb.TriangularStepRequest{JobId: "j", Step: 1, Block: 8, Vector: make([]float64, 1024)}, "block"},
		{&pb.TriangularStepRequest{JobId: "j", Step: 1, Block: 7, Vector: make([]float64, 1024)}, "672 rows"},
		{&pb.TriangularStepRequest{JobId: "j", Step: 1, Block: 0, Vector: []float64{math.NaN()}}, "vector"},
	} {
		_, err := c.TriangularStep(ctx, tc.req)
		wantStatus(t, "TriangularStep", err, codes.InvalidArgument, tc.mention)
	}
	_, err = c.TriangularStep(ctx, &pb.TriangularStepRequest{JobId: "j", Step: 2, Block: 0, Vector: make([]float64, 1024)})
	wantStatus(t, "TriangularStep of another step", err, codes.FailedPrecondition, "not 2")
}

// TestPushTileRefusesBadTiles: a tile that no tile of the receiver reads, or of the
// wrong shape, is refused.
func TestPushTileRefusesBadTiles(t *testing.T) {
	lb, err := StartLoopback(2, Config{GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	conn, err := grpc.NewClient(lb.Addrs[1], clusterrpc.DialOptions(nil, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewWorkerClient(conn)
	ctx := t.Context()
	d := tinySet()
	req := startJobRequest("j", d, "")
	req.Plan.GridCols, req.Plan.Workers, req.Rank = 2, lb.Addrs, 1
	if _, err := c.StartJob(ctx, req); err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	if err := upload(ctx, c, "j", d, hdr, data, 1000); err != nil {
		t.Fatal(err)
	}
	push := func(h *pb.TileHeader, step uint64, values int) error {
		stream, err := c.PushTile(ctx)
		if err != nil {
			return err
		}
		buf := make([]byte, 8*values)
		stream.Send(&pb.PushTileRequest{JobId: "j", Step: step, Header: h, Chunk: buf})
		_, err = stream.CloseAndRecv()
		return err
	}
	err = push(&pb.TileHeader{Row: 0, Col: 0, Rows: 1024, Cols: 1024}, 1, 8)
	wantStatus(t, "push before Assemble", err, codes.FailedPrecondition, "not assembled")
	if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: make([]float64, hessian.Params)}); err != nil {
		t.Fatal(err)
	}
	// Rank 1 of a 1x2 grid owns the odd tile columns; (1,1) is its own, not read from
	// a peer.
	err = push(&pb.TileHeader{Row: 1, Col: 1, Rows: 1024, Cols: 1024}, 1, 8)
	wantStatus(t, "own tile", err, codes.InvalidArgument, "not read by any tile of rank 1")
	// (1,0) is rank 0's, read by rank 1's (1,1).
	err = push(&pb.TileHeader{Row: 1, Col: 0, Rows: 1000, Cols: 1024}, 1, 8)
	wantStatus(t, "wrong shape", err, codes.InvalidArgument, "is 1024x1024, not 1000x1024")
	err = push(&pb.TileHeader{Row: 1, Col: 0, Rows: 1024, Cols: 1024}, 1, 8)
	wantStatus(t, "short tile", err, codes.InvalidArgument, "ended after 8 of")
	err = push(nil, 1, 8)
	wantStatus(t, "no header", err, codes.InvalidArgument, "header")
}

// TestGenerationSupersedes: StartJob of a later generation of a family ends the earlier
// one, so its late calls find no job (NOT_FOUND); an earlier generation cannot start
// after a later one.
func TestGenerationSupersedes(t *testing.T) {
	_, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	gen := func(id string, g uint64) *pb.StartJobRequest {
		r := startJobRequest(id, d, "127.0.0.1:1")
		r.Family, r.Generation = "fam", g
		return r
	}
	if _, err := c.StartJob(ctx, gen("fam-g1", 1)); err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	if err := upload(ctx, c, "fam-g1", d, hdr, data, 1000); err != nil {
		t.Fatal(err)
	}
	resp, err := c.StartJob(ctx, gen("fam-g2", 2))
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetDataCached() {
		t.Error("generation 2 did not find the data of generation 1 in the cache")
	}
	w := make([]float64, hessian.Params)
	_, err = c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "fam-g1", Weights: w, End: 3})
	wantStatus(t, "late call of generation 1", err, codes.NotFound, "fam-g1")
	stream, err := c.PushTile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&pb.PushTileRequest{JobId: "fam-g1", Step: 1, Header: &pb.TileHeader{Rows: 1, Cols: 1}, Chunk: make([]byte, 8)})
	_, err = stream.CloseAndRecv()
	wantStatus(t, "late tile of generation 1", err, codes.NotFound, "fam-g1")
	_, err = c.StartJob(ctx, gen("fam-g1b", 1))
	wantStatus(t, "generation 1 after 2", err, codes.FailedPrecondition, "superseded by generation 2")
	if _, err := c.Evaluate(ctx, &pb.EvaluateRequest{JobId: "fam-g2", Weights: w, End: 3}); err != nil {
		t.Errorf("generation 2: %v", err)
	}
}

// TestMetrics: after an assembly the worker's Prometheus endpoint shows the tiles it
// holds, the bytes it moved and its tasks by kind.
func TestMetrics(t *testing.T) {
	s, c := testWorker(t)
	ctx := t.Context()
	d := tinySet()
	if _, err := c.StartJob(ctx, startJobRequest("j", d, "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	data, hdr := encode(d)
	if err := upload(ctx, c, "j", d, hdr, data, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Assemble(ctx, &pb.AssembleRequest{JobId: "j", Step: 1, Weights: make([]float64, hessian.Params)}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	plan := clusterplan.Plan{N: hessian.Params, TileSize: 1024, Rows: 1, Cols: 1}
	for _, want := range []string{
		"hess_worker_tiles_held 36", // 8 x 8 tiles of 1024: 36 on or below the diagonal
		fmt.Sprintf("hess_worker_tile_bytes %g", float64(plan.StoredBytes(0))),
		`hess_worker_tasks_total{kind="assemble"} 36`, // one task per tile
		`hess_worker_bytes_total{direction="received",method="/hessian.v1.Worker/UploadData"}`,
		"hess_worker_jobs 1",
		"go_memstats_heap_inuse_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
