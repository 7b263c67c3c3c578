package main

import (
	"bytes"
	"testing"
	"time"
)

// TestProgressPlainLines: without a terminal, a short phase prints nothing; a long one a
// line every plainEvery and a last one at 100%, so no line is left stale.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := &progress{w: &buf, now: func() time.Time { return clock }}
	step := func(d time.Duration, phase string, done, total int) {
		clock = clock.Add(d)
		p.report(phase, done, total)
	}
	step(0, "short", 0, 3)
	step(time.Second, "short", 1, 3)
	step(time.Second, "short", 3, 3)
	if buf.Len() != 0 {
		t.Fatalf("a 2 s phase printed %q; want nothing", buf.String())
	}
	step(0, "long", 0, 100)
	step(plainEvery-time.Second, "long", 10, 100)
	step(2*time.Second, "long", 20, 100)
	step(time.Second, "long", 30, 100)
	step(plainEvery, "long", 60, 100)
	step(time.Second, "long", 100, 100)
	want := "long: 20% (20 of 100)\nlong: 60% (60 of 100)\nlong: 100% (100 of 100)\n"
	if buf.String() != want {
		t.Errorf("a long phase printed\n%s\nwant\n%s", buf.String(), want)
	}
	// The same phase name again starts anew: short, so silent.
	buf.Reset()
	step(0, "long", 0, 2)
	step(time.Second, "long", 2, 2)
	if buf.Len() != 0 {
		t.Errorf("a short repeat of a phase printed %q; want nothing", buf.String())
	}
}
