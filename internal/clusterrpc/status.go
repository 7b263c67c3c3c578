package clusterrpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// PivotStatus returns the gRPC error of a factorization that failed at a pivot:
// FAILED_PRECONDITION (the caller must not retry until the matrix changes) with the
// PivotError's message and a NotPositiveDefinite detail, from which PivotFromError
// rebuilds it.
func PivotStatus(pe *hessian.PivotError, tileRow, tileCol int) error {
	st := status.New(codes.FailedPrecondition, pe.Error())
	ds, err := st.WithDetails(&pb.NotPositiveDefinite{
		Column:  uint64(pe.Column),
		Pivot:   pe.Pivot,
		TileRow: uint32(tileRow),
		TileCol: uint32(tileCol),
	})
	if err != nil {
		return st.Err()
	}
	return ds.Err()
}

// PivotFromError returns the *hessian.PivotError carried by a status error made by
// PivotStatus, or nil.
func PivotFromError(err error) *hessian.PivotError {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return nil
	}
	for _, d := range st.Details() {
		if npd, ok := d.(*pb.NotPositiveDefinite); ok {
			return &hessian.PivotError{
				Column: int(npd.GetColumn()),
				Pivot:  npd.GetPivot(),
				Tile:   fmt.Sprintf("(%d,%d)", npd.GetTileRow(), npd.GetTileCol()),
			}
		}
	}
	return nil
}

// StatusOf returns the gRPC status error for err made on a worker: a *FieldError is
// INVALID_ARGUMENT, a context error CANCELED or DEADLINE_EXCEEDED, a status error itself,
// anything else INTERNAL.
func StatusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
