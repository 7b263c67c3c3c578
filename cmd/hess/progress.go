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

// progress shows how far long work has come: a bar redrawn in place on a terminal;
// otherwise plain lines for a phase that runs longer than plainEvery (one every
// plainEvery, and a last one when it ends), and nothing for a short one.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	phase   string
	last    time.Time // the last line drawn, or the phase's start
	printed bool      // a plain line was written for this phase
	now     func() time.Time
}

const (
	ttyEvery   = 100 * time.Millisecond
	plainEvery = 10 * time.Second
)

// newProgress writes to w; a nil *progress reports nothing.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w, now: time.Now}
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
	now := p.now()
	first := phase != p.phase
	if first {
		p.phase, p.printed = phase, false
		if !p.tty {
			p.last = now
		}
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
		p.last = now
		return
	}
	switch {
	case finished:
		if p.printed {
			fmt.Fprintf(p.w, "%s: 100%% (%d of %d)\n", phase, total, total)
		}
		p.phase, p.printed = "", false // a phase of the same name that follows starts anew
	case now.Sub(p.last) >= plainEvery:
		fmt.Fprintf(p.w, "%s: %d%% (%d of %d)\n", phase, 100*done/total, done, total)
		p.last, p.printed = now, true
	}
}
