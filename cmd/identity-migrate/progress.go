package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress reports how far a phase is: a bar redrawn in place on a
// terminal (objects per second, time left), plain lines otherwise, nothing
// when quiet.
type progress struct {
	w     io.Writer
	mode  string // "bar", "lines" or "none"
	phase string
	total int
	start time.Time
	// bar is true while a bar is drawn on the current line.
	bar bool
}

// newProgress picks the mode: auto is a bar when w is a terminal.
func newProgress(w io.Writer, mode string) (*progress, error) {
	switch mode {
	case "auto":
		mode = "lines"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				mode = "bar"
			}
		}
	case "bar", "lines", "none":
	default:
		return nil, fmt.Errorf("--progress must be auto, bar, lines or none, not %q", mode)
	}
	return &progress{w: w, mode: mode}, nil
}

// begin starts a phase of total objects.
func (p *progress) begin(phase string, total int) {
	if p == nil {
		return
	}
	p.end()
	p.phase, p.total, p.start = phase, total, time.Now()
}

// reading reports objects read from a source, whose total is unknown.
func (p *progress) reading(n int) {
	if p == nil || p.mode == "none" {
		return
	}
	if p.mode == "bar" {
		fmt.Fprintf(p.w, "\rreading: %d objects", n)
		p.bar = true
		return
	}
	fmt.Fprintf(p.w, "reading: %d objects\n", n)
}

// step reports done of the phase's objects after a batch.
func (p *progress) step(batch, batches, done int) {
	if p == nil || p.mode == "none" {
		return
	}
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	if p.mode == "lines" {
		fmt.Fprintf(p.w, "%s: batch %d/%d: %d/%d objects, %.0f objects/s, eta %s\n", p.phase, batch, batches, done, p.total, rate, eta)
		return
	}
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * done / p.total
	}
	pct := 100
	if p.total > 0 {
		pct = 100 * done / p.total
	}
	fmt.Fprintf(p.w, "\r%-8s [%s%s] %3d%% %d/%d objects  %.0f/s  eta %s   ", p.phase, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pct, done, p.total, rate, eta)
	p.bar = true
}

// end finishes the line of a bar.
func (p *progress) end() {
	if p != nil && p.bar {
		fmt.Fprintln(p.w)
		p.bar = false
	}
}

// message prints a line between progress reports.
func (p *progress) message(format string, args ...any) {
	if p == nil {
		return
	}
	p.end()
	fmt.Fprintf(p.w, format+"\n", args...)
}
