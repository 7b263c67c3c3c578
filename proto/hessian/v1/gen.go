// Package hessianv1 is the generated Go code of hessian.proto, the API between the
// coordinator and the workers (imported as pb). Regenerate it with `go generate ./proto/...`;
// scripts/check-proto.sh fails when the committed files differ from a regeneration.
package hessianv1

//go:generate bash ../../gen.sh
