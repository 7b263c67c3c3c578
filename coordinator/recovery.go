package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hessian-cluster/hess/hessian"
)

// Recovery from lost workers: restart the phase.
//
// A phase (an evaluation, or a whole Newton direction: assembly, factorization and
// solves) runs under a liveness monitor that health-checks every worker each Heartbeat.
// A worker that is killed is noticed at once by its failed calls (and by its peers'
// failed tile pushes); one that is cut off or paused is noticed when it has not answered
// for DeadAfter. Either way the phase is cancelled on all workers, the coordinator
// checks who still answers, ends the job on the survivors, and starts the next
// generation of the job on them: a new tile layout for the new worker count, a new job
// id (the workers then refuse every late call of the old generation with NOT_FOUND), and
// the training set only to workers that lack it. The phase then runs again from its
// start, from the step's weights, which the coordinator holds.
//
// Restarting rather than replaying the lost tiles' share of the factorization keeps one
// code path for every phase, and costs at most one step's assembly and factorization.
// The result is the fault-free result: the Hessian tiles are bitwise the same for every
// layout, and the refined solves agree to rounding (hessian/refine.go).
//
// Before every direction, workers that Config.Discover names (or the workers of
// Config.Workers that were lost) and that serve again join the job: the next generation
// starts with them.

// WorkerLostError is the cause of a phase cancelled because a worker stopped answering.
type WorkerLostError struct {
	Addr    string
	Silence time.Duration // how long it had not answered
	Last    error         // the last health-check failure
}

// Error names the worker and how long it was silent.
func (e *WorkerLostError) Error() string {
	return fmt.Sprintf("worker %s given up for dead: no SERVING answer for %v (last: %v)", e.Addr, e.Silence.Round(time.Millisecond), e.Last)
}

// run runs phase f, restarting it on the surviving workers when workers are lost, at most
// Liveness.MaxRestarts times.
func (c *Cluster) run(ctx context.Context, phase string, f func(ctx context.Context) error) error {
	for restart := 0; ; restart++ {
		err := c.monitored(ctx, f)
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		if restart == c.cfg.Liveness.MaxRestarts {
			return fmt.Errorf("coordinator: %s: giving up after %d restarts: %w", phase, restart, err)
		}
		alive, lost := c.probe(ctx, c.Workers(), c.probeWait())
		if len(alive) == 0 {
			return fmt.Errorf("coordinator: %s: every worker is lost (%v): %w", phase, lost, err)
		}
		c.log.Warn("phase failed; restarting it", "phase", phase, "generation", c.gen, "lost", lost, "workers", len(alive), "err", err)
		c.metrics.restarts.WithLabelValues(phase).Inc()
		// End the old generation on the survivors (best effort: the next StartJob ends it
		// too), so that its work stops and its tiles are freed before the new ones.
		ectx, cancel := context.WithTimeout(ctx, c.to.EndJob)
		c.endJob(ectx, c.remotes(alive))
		cancel()
		if ferr := c.form(ctx, alive); ferr != nil {
			return fmt.Errorf("coordinator: %s: starting generation %d on %v: %w (after: %v)", phase, c.gen, alive, ferr, err)
		}
	}
}

// retryable reports whether a phase that failed with err may succeed on another set of
// workers: calls that could not reach a worker, ran past their deadline, were cancelled
// by a worker's shutdown, were aborted because a peer failed, found no job (a worker
// restarted), or got a stale answer. A pivot that is not positive or a refused argument
// fails the same way on any layout.
func retryable(err error) bool {
	var lost *WorkerLostError
	var stale *StaleAnswerError
	if errors.As(err, &lost) || errors.As(err, &stale) {
		return true
	}
	var pe *hessian.PivotError
	if errors.As(err, &pe) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.NotFound:
		return true
	}
	return false
}

// monitored runs f under the liveness monitor: when a worker has not answered a health
// check with SERVING for DeadAfter, f's context is cancelled with a *WorkerLostError,
// which monitored returns.
func (c *Cluster) monitored(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, w := range c.workers {
		wg.Go(func() { c.watch(ctx, w, stop, cancel) })
	}
	err := f(ctx)
	close(stop)
	wg.Wait()
	if err == nil {
		return nil
	}
	var lost *WorkerLostError
	if cause := context.Cause(ctx); errors.As(cause, &lost) {
		return lost
	}
	return err
}

// watch health-checks w every Heartbeat until stop is closed or ctx is done, and cancels
// with a *WorkerLostError when w has been silent for DeadAfter.
func (c *Cluster) watch(ctx context.Context, w *remote, stop <-chan struct{}, cancel context.CancelCauseFunc) {
	lv := c.cfg.Liveness
	hc := healthpb.NewHealthClient(w.conn)
	lastOK := time.Now()
	var last error
	t := time.NewTicker(lv.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, ccancel := context.WithTimeout(ctx, min(lv.DeadAfter, c.to.Health))
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		switch {
		case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			lastOK = time.Now()
			continue
		case err == nil:
			last = fmt.Errorf("status %s", resp.GetStatus())
		default:
			last = err
		}
		if silence := time.Since(lastOK); silence >= lv.DeadAfter {
			w.log.Warn("worker lost", "silence", silence, "err", last)
			cancel(&WorkerLostError{Addr: w.addr, Silence: silence, Last: last})
			return
		}
	}
}

// probe health-checks the workers at addrs once each, at once, and splits them into
// those that serve and those that do not, in the order of addrs. A worker gets wait to
// answer, its connection included: one whose connection just dropped reconnects within
// that time, one that is gone costs it.
func (c *Cluster) probe(ctx context.Context, addrs []string, wait time.Duration) (alive, lost []string) {
	ok := make([]bool, len(addrs))
	forEach(ctx, addrs, func(ctx context.Context, addr string) error {
		i := slices.Index(addrs, addr)
		conn, err := c.conn(addr)
		if err != nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		ok[i] = err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
		return nil
	})
	for i, a := range addrs {
		if ok[i] {
			alive = append(alive, a)
		} else {
			lost = append(lost, a)
		}
	}
	return alive, lost
}

// probeWait is how long a worker may take to answer after a failed phase before it is
// given up: its DeadAfter, at most the health-check deadline.
func (c *Cluster) probeWait() time.Duration { return min(c.cfg.Liveness.DeadAfter, c.to.Health) }

// joinWait is how long a worker that is not in the job may take to answer before a
// direction: short, since a lost worker is asked again before every step.
const joinWait = 2 * time.Second

// remotes returns the current workers at addrs.
func (c *Cluster) remotes(addrs []string) []*remote {
	var out []*remote
	for _, w := range c.workers {
		if slices.Contains(addrs, w.addr) {
			out = append(out, w)
		}
	}
	return out
}

// refresh lets workers join before a direction: those that Config.Discover names (or
// Config.Workers, without it) that are not in the job and answer SERVING now. If any
// do, the next generation starts with the current workers followed by them.
func (c *Cluster) refresh(ctx context.Context) error {
	candidates := c.cfg.Workers
	if c.cfg.Discover != nil {
		found, err := c.cfg.Discover(ctx)
		if err != nil {
			c.log.Warn("discovering workers", "err", err)
			return nil // keep the current workers
		}
		candidates = found
	}
	var fresh []string
	for _, a := range candidates {
		if !slices.Contains(c.Workers(), a) {
			fresh = append(fresh, a)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	joining, _ := c.probe(ctx, fresh, joinWait)
	if len(joining) == 0 {
		return nil
	}
	c.log.Info("workers joining", "workers", joining)
	ectx, cancel := context.WithTimeout(ctx, c.to.EndJob)
	c.endJob(ectx, c.workers)
	cancel()
	return c.form(ctx, append(c.Workers(), joining...))
}
