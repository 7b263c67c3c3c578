// Package coordinator drives a Newton training job on a cluster of workers (package
// worker) over gRPC (package proto/hessian/v1). A *Cluster implements hessian.Problem, so
// hessian.Newton runs unchanged on it: the objective and gradient come back from the
// workers as partial sums, and the Newton direction is solved by a tiled Cholesky
// factorization whose tiles live on the workers and travel worker to worker. The
// coordinator plans the layout (package internal/clusterplan), moves vectors, and never
// holds the matrix: its memory is the training set, a few vectors of 7840 values, and
// the gRPC buffers.
//
// # Where the work runs, and the bytes it moves
//
// The N x N matrix (N = 7840) is cut into tiles laid out 2D block-cyclically over a
// Rows x Cols process grid. Each step:
//
//   - Evaluate (gradient and line search): the coordinator sends the weights (62.7 KB)
//     to every worker, each sums loss and gradient over its contiguous shard of the
//     images and returns the sums (62.7 KB); the coordinator adds them in rank order.
//   - Assemble: owner-computes. Every worker builds its own tiles from all images of the
//     training set, which it received once per job (about 28 MB for MNIST, cached on the
//     worker under its SHA-256, so a later job with the same data sends nothing). A step
//     sends only the weights: 62.7 KB per worker. The alternative, sample-sharded partial
//     sums reduced to the owners, computes the same flops split by images instead of by
//     tiles, but then every worker holds a partial sum of every tile and must send
//     (P-1)/P of the lower triangle to the owners: 123 MB per step on 2 workers and 184 MB
//     on 4, against 0.13 MB and 0.25 MB. It would pay only if the data could not be
//     replicated (it is 6% of the matrix), so the workers compute what they own.
//   - Factor: the workers run a right-looking tiled Cholesky with look-ahead
//     (worker/factor.go); every finished tile goes once to each other worker that reads
//     it (clusterplan.Plan.FactorTraffic, the lower bound of this layout, which the
//     measured traffic equals).
//   - Solve: the coordinator runs the forward and the backward substitution block by
//     block. For block k it asks the owner of the diagonal tile to solve it, and the
//     owners of the other tiles of column k (forward) or row k (backward) for their
//     products with the solved block: 2 T small calls per solve for T tile rows, each
//     moving at most one block of the vector per tile. Then one step of iterative
//     refinement: the workers multiply the Hessian by the solution over their shards of
//     the images, with exact products and compensated sums (hessian/refine.go), the
//     coordinator forms the residual to twice the working precision, and a second solve
//     corrects the solution. The result agrees with the single-process solver to
//     rounding, for any layout.
//
// Besides the Newton steps, Eigenvalues gives all eigenvalues of the assembled matrix
// (the tridiagonal reduction, LAPACK's DSYTRD, with the tiles as the trailing matrix:
// per column a Householder vector of at most 62.7 KB to the workers and their products
// back, per panel of 32 columns a 2 MB gather and an update the workers apply; see
// eigen.go and tridiag.go), and SpyCounts the non-zero counts of its cells, which every
// worker makes for its own tiles.
//
// # Failures
//
// Every call has a deadline (Timeouts). A pivot that is not positive comes back as a
// *hessian.PivotError naming the global column and the tile. The first failure of any
// worker cancels the phase on all of them, and the error names the worker's address. A
// lost worker (killed, cut off, paused past Liveness.DeadAfter) restarts the phase on the
// survivors in a new generation of the job (recovery.go); answers that do not carry the
// current job id and step are refused (StaleAnswerError).
package coordinator
