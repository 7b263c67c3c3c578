package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress shows how far long work has come: a bar redrawn in place on a terminal,
// plain lines (at most one every plainEvery per phase) otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	phase string
	last  time.Time
}

const (
	ttyEvery   = 100 * time.Millisecond
	plainEvery = 10 * time.Second
)

// newProgress writes to w; a nil *progress reports nothing.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// report is a hessian.ProgressFunc.
func (p *progress) report(phase string, done, total int) {
	if p == nil || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	first := phase != p.phase
	if first {
		p.phase = phase
	}
	finished := done >= total
	if p.tty {
		if !first && !finished && now.Sub(p.last) < ttyEvery {
			return
		}
		const width = 30
		fill := width * done / total
		fmt.Fprintf(p.w, "\r%-9s [%s%s] %3d%%", phase, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), 100*done/total)
		if finished {
			fmt.Fprint(p.w, "\r\033[K")
		}
	} else {
		if finished || (!first && now.Sub(p.last) < plainEvery) || (first && done == 0) {
			return
		}
		fmt.Fprintf(p.w, "%s: %d%% (%d of %d)\n", phase, 100*done/total, done, total)
	}
	p.last = now
}
