package hessian

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"gonum.org/v1/gonum/mat"
)

// npyTestWeights returns seeded random weights in flat order.
func npyTestWeights(seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 2))
	w := make([]float64, Params)
	for i := range w {
		w[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(30)-15)) // many exponents
	}
	w[0], w[1], w[2] = 0, math.Copysign(0, -1), math.SmallestNonzeroFloat64
	return w
}

// npyTestFile returns an .npy file (format 1.0) with the given header dict and data bytes.
func npyTestFile(dict string, data []byte) []byte {
	hdr := dict + "\n"
	b := []byte(npyMagic + "\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// npyTestF8 returns the little-endian bytes of v.
func npyTestF8(v []float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// TestNPYHeader checks that headers are valid NPY 1.0 headers: magic, version, length,
// the dict numpy writes, padded with spaces so that the data starts at a multiple of 64.
func TestNPYHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rows, cols int
		shape      string
	}{
		{0, 0, "(0, 0)"}, {1, 1, "(1, 1)"}, {3, 5, "(3, 5)"}, {784, 10, "(784, 10)"},
		{Params, Params, "(7840, 7840)"}, {123456789, 987654321, "(123456789, 987654321)"},
	} {
		var hdr []byte
		if tc.rows*tc.cols <= 100000 {
			var buf bytes.Buffer
			err := WriteMatrixNPY(&buf, tc.rows, tc.cols, func(int, []float64) {})
			if err != nil {
				t.Fatalf("WriteMatrixNPY(%d, %d): %v", tc.rows, tc.cols, err)
			}
			hdr = buf.Bytes()[:buf.Len()-8*tc.rows*tc.cols]
		} else {
			hdr = npyEncodeHeader([]int64{int64(tc.rows), int64(tc.cols)})
		}
		if len(hdr)%64 != 0 {
			t.Errorf("shape %s: header of %d bytes, want a multiple of 64", tc.shape, len(hdr))
		}
		if string(hdr[:8]) != "\x93NUMPY\x01\x00" {
			t.Errorf("shape %s: header starts %q, want magic and version 1.0", tc.shape, hdr[:8])
		}
		if n := int(binary.LittleEndian.Uint16(hdr[8:])); n != len(hdr)-10 {
			t.Errorf("shape %s: header length field %d, want %d", tc.shape, n, len(hdr)-10)
		}
		dict := "{'descr': '<f8', 'fortran_order': False, 'shape': " + tc.shape + ", }"
		rest := string(hdr[10:])
		if !strings.HasPrefix(rest, dict) || strings.Trim(rest[len(dict):], " ") != "\n" || !strings.HasSuffix(rest, "\n") {
			t.Errorf("shape %s: header dict %q, want %q padded with spaces and ended by a newline", tc.shape, rest, dict)
		}
	}
	if got := npyShapeString([]int64{Params}); got != "(7840,)" {
		t.Errorf("npyShapeString([7840]) = %q, want (7840,)", got)
	}
	if got := npyShapeString(nil); got != "()" {
		t.Errorf("npyShapeString(nil) = %q, want ()", got)
	}
}

// TestWriteMatrixNPY writes a matrix row by row and reads it back exactly with npyio (into
// a slice and into a mat.Dense) and with ReadMatrixNPY.
func TestWriteMatrixNPY(t *testing.T) {
	t.Parallel()
	const rows, cols = 37, 53
	r := rand.New(rand.NewPCG(3, 4))
	want := make([]float64, rows*cols)
	for i := range want {
		want[i] = r.NormFloat64()
	}
	want[5] = math.NaN() // any value is written as it is
	want[6] = math.Inf(-1)

	path := filepath.Join(t.TempDir(), "m.npy")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	err = WriteMatrixNPY(f, rows, cols, func(i int, dst []float64) {
		if i != next || len(dst) != cols {
			t.Fatalf("row(%d, len %d), want row(%d, len %d)", i, len(dst), next, cols)
		}
		if slices.ContainsFunc(dst, func(x float64) bool { return x != 0 }) {
			t.Fatalf("row %d: dst not zeroed", i)
		}
		next++
		copy(dst, want[i*cols:])
	})
	if err != nil {
		t.Fatalf("WriteMatrixNPY: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if next != rows {
		t.Fatalf("row called %d times, want %d", next, rows)
	}

	same := func(what string, got []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s: value %d = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var flat []float64
	if err := npyio.Read(bytes.NewReader(b), &flat); err != nil {
		t.Fatalf("npyio.Read into []float64: %v", err)
	}
	same("npyio []float64", flat)
	var m mat.Dense
	if err := npyio.Read(bytes.NewReader(b), &m); err != nil {
		t.Fatalf("npyio.Read into mat.Dense: %v", err)
	}
	if rr, cc := m.Dims(); rr != rows || cc != cols {
		t.Fatalf("npyio reads a %dx%d matrix, want %dx%d", rr, cc, rows, cols)
	}
	same("npyio mat.Dense", m.RawMatrix().Data)
	rr, cc, data, err := ReadMatrixNPY(path)
	if err != nil || rr != rows || cc != cols {
		t.Fatalf("ReadMatrixNPY = %d, %d, %v; want %d, %d, nil", rr, cc, err, rows, cols)
	}
	same("ReadMatrixNPY", data)
	rr, cc, data, err = npyReadMatrix(bytes.NewReader(b), -1, "stream")
	if err != nil || rr != rows || cc != cols {
		t.Fatalf("npyReadMatrix of unknown size = %d, %d, %v; want %d, %d, nil", rr, cc, err, rows, cols)
	}
	same("npyReadMatrix of unknown size", data)
}

// npyTestErrWriter fails after n bytes.
type npyTestErrWriter struct{ n int }

var errNPYTestFull = errors.New("disk full")

func (w *npyTestErrWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errNPYTestFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteMatrixNPYErrors(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 100, 3 << 20} {
		err := WriteMatrixNPY(&npyTestErrWriter{n}, 1000, 1000, func(int, []float64) {})
		if !errors.Is(err, errNPYTestFull) {
			t.Errorf("WriteMatrixNPY to a writer that fails after %d bytes: error %v, want %v", n, err, errNPYTestFull)
		}
	}
	if err := WriteMatrixNPY(io.Discard, -1, 3, func(int, []float64) {}); err == nil || !strings.Contains(err.Error(), "(-1, 3)") {
		t.Errorf("WriteMatrixNPY(-1, 3): error %v, want one naming the shape", err)
	}
}

// TestWeightsRoundTrip writes weights and reads them back exactly, with ReadWeights and with
// npyio, as the 784x10 matrix W with W[j,k] = v[10*j+k]; the write replaces a file
// atomically and leaves no temporary file.
func TestWeightsRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "w.npy")
	if err := os.WriteFile(path, []byte("old contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := npyTestWeights(1)
	if err := WriteWeights(path, w); err != nil {
		t.Fatalf("WriteWeights: %v", err)
	}
	got, err := ReadWeights(path)
	if err != nil {
		t.Fatalf("ReadWeights: %v", err)
	}
	for i := range w {
		if math.Float64bits(got[i]) != math.Float64bits(w[i]) {
			t.Fatalf("ReadWeights: value %d = %v, want %v", i, got[i], w[i])
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m mat.Dense
	if err := npyio.Read(f, &m); err != nil {
		t.Fatalf("npyio.Read: %v", err)
	}
	if r, c := m.Dims(); r != Pixels || c != Classes {
		t.Fatalf("npyio reads a %dx%d matrix, want %dx%d", r, c, Pixels, Classes)
	}
	for j := range Pixels {
		for k := range Classes {
			if m.At(j, k) != w[Classes*j+k] {
				t.Fatalf("W[%d,%d] = %v, want v[%d] = %v", j, k, m.At(j, k), Classes*j+k, w[Classes*j+k])
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %v after WriteWeights, want only w.npy", entries)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("w.npy: mode %v, %v; want -rw-r--r--", fi.Mode(), err)
	}

	// Refused writes leave the old file alone.
	w[77] = math.NaN()
	if err := WriteWeights(path, w); err == nil || !strings.Contains(err.Error(), "element 77 (pixel 7, class 7) is NaN") {
		t.Errorf("WriteWeights with a NaN: error %v, want one naming element 77", err)
	}
	if err := WriteWeights(path, w[:100]); err == nil || !strings.Contains(err.Error(), "100 values, want 7840") {
		t.Errorf("WriteWeights of 100 values: error %v, want one giving the count", err)
	}
	if err := WriteWeights(filepath.Join(dir, "no-such-dir", "w.npy"), npyTestWeights(2)); err == nil {
		t.Errorf("WriteWeights into a missing folder succeeded")
	}
	if _, err := ReadWeights(path); err != nil {
		t.Errorf("ReadWeights after refused writes: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %v after refused writes, want only w.npy", entries)
	}
}

// TestReadWeightsNpyio reads weights written by npyio, whose files differ from ours (format
// 2.0, no 64-byte alignment): flat (7840,) and (784, 10) are read, other shapes and dtypes
// are refused.
func TestReadWeightsNpyio(t *testing.T) {
	t.Parallel()
	w := npyTestWeights(5)
	dir := t.TempDir()
	write := func(name string, v any) string {
		t.Helper()
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := npyio.Write(f, v); err != nil {
			t.Fatal(err)
		}
		return path
	}
	w32 := make([]float32, Params)
	for i := range w32 {
		w32[i] = float32(w[i])
	}
	wt := mat.DenseCopyOf(mat.NewDense(Pixels, Classes, w).T())
	for _, tc := range []struct {
		path string
		want string // "" for success
	}{
		{write("flat.npy", w), ""},
		{write("matrix.npy", mat.NewDense(Pixels, Classes, w)), ""},
		{write("transposed.npy", wt), "shape (10, 784), want (784, 10) or (7840,)"},
		{write("f32.npy", w32), "dtype <f4, want <f8"},
		{write("short.npy", w[:100]), "shape (100,)"},
	} {
		got, err := ReadWeights(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ReadWeights(%s): %v", tc.path, err)
		case tc.want == "" && !slices.Equal(got, w):
			t.Errorf("ReadWeights(%s) differs from what npyio wrote", tc.path)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path)):
			t.Errorf("ReadWeights(%s): error %v, want one naming the file and %q", tc.path, err, tc.want)
		}
	}
}

// npyTestCase is a damaged .npy file and what the error must contain.
type npyTestCase struct {
	name string
	file []byte
	want []string
}

// npyTestCases returns damaged weight files; the data of a good one is 62720 bytes.
func npyTestCases() []npyTestCase {
	w := npyTestWeights(7)
	data := npyTestF8(w)
	good := func(shape string) []byte {
		return npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': "+shape+", }", data)
	}
	with := func(i int, x float64) []byte {
		v := slices.Clone(w)
		v[i] = x
		return npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (784, 10), }", npyTestF8(v))
	}
	v2 := append([]byte(npyMagic+"\x02\x00"), 0xff, 0xff, 0xff, 0xff)
	return []npyTestCase{
		{"empty", nil, []string{"truncated header", "0 bytes"}},
		{"not npy", []byte("PK\x03\x04 this is a zip file"), []string{"not an .npy file"}},
		{"version 4", []byte(npyMagic + "\x04\x00\x10\x00{}"), []string{"format version 4.0"}},
		{"version 1.1", []byte(npyMagic + "\x01\x01\x10\x00{}"), []string{"format version 1.1"}},
		{"huge header", v2, []string{"header of 4294967295 bytes", "limit"}},
		{"short v2 length", []byte(npyMagic + "\x02\x00\x01\x00"), []string{"truncated header", "4-byte header length"}},
		{"header cut", good("(784, 10)")[:40], []string{"truncated header", "30 of the"}},
		{"transposed", good("(10, 784)"), []string{"shape (10, 784), want (784, 10) or (7840,)"}},
		{"3-d", good("(784, 10, 1)"), []string{"shape (784, 10, 1), want"}},
		{"scalar", good("()"), []string{"shape (), want"}},
		{"not a tuple", good("(7840)"), []string{"(n) is not a tuple"}},
		{"huge dimension", good("(99999999999999999999999,)"), []string{"dimension 99999999999999999999999"}},
		{"negative dimension", good("(-7840,)"), []string{"want a non-negative integer"}},
		{"float32", npyTestFile("{'descr': '<f4', 'fortran_order': False, 'shape': (784, 10), }", data[:len(data)/2]),
			[]string{"dtype <f4, want <f8 (float64"}},
		{"big-endian", npyTestFile("{'descr': '>f8', 'fortran_order': False, 'shape': (784, 10), }", data), []string{"dtype >f8, want <f8"}},
		{"structured", npyTestFile("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (7840,), }", data), []string{"structured dtype"}},
		{"fortran", npyTestFile("{'descr': '<f8', 'fortran_order': True, 'shape': (784, 10), }", data), []string{"fortran_order is True", "want C order"}},
		{"bad bool", npyTestFile("{'descr': '<f8', 'fortran_order': 0, 'shape': (784, 10), }", data), []string{"fortran_order", "want True or False"}},
		{"no shape", npyTestFile("{'descr': '<f8', 'fortran_order': False, }", data), []string{`no key "shape"`}},
		{"extra key", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (7840,), 'x': 1}", data), []string{`unexpected key "x"`}},
		{"key twice", npyTestFile("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (7840,)}", data), []string{`key "descr" twice`}},
		{"no brace", npyTestFile("'descr': '<f8'", data), []string{`want '{'`}},
		{"junk after", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (7840,)} junk", data), []string{`"junk" after the dict`}},
		{"unterminated", npyTestFile("{'descr: '<f8", data), []string{"bad header"}},
		{"truncated data", good("(784, 10)")[:len(good("(784, 10)"))-31360], []string{"truncated data", "31360 of the 62720 data bytes"}},
		{"no data", good("(7840,)")[:len(good("(7840,)"))-len(data)], []string{"truncated data", "0 of the 62720 data bytes"}},
		{"trailing byte", append(good("(7840,)"), 0), []string{"1 trailing byte after the data"}},
		{"NaN", with(1234, math.NaN()), []string{"element 1234 (pixel 123, class 4) is NaN"}},
		{"+Inf", with(0, math.Inf(1)), []string{"element 0 (pixel 0, class 0) is +Inf"}},
		{"-Inf", with(Params-1, math.Inf(-1)), []string{"element 7839 (pixel 783, class 9) is -Inf"}},
	}
}

// TestReadWeightsErrors checks that each kind of damage is refused with a message that
// names the file and the reason.
func TestReadWeightsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, tc := range npyTestCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, fmt.Sprintf("case%d.npy", i))
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := ReadWeights(path)
			if err == nil {
				t.Fatalf("ReadWeights = %d values, nil; want an error containing %q", len(w), tc.want)
			}
			msg := err.Error()
			for _, want := range append([]string{"hessian: " + path + ": "}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
	_, err := ReadWeights(filepath.Join(dir, "missing.npy"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("ReadWeights of a missing file: error %v, want one naming it and wrapping os.ErrNotExist", err)
	}
}

// npyTestReaderOnly hides the methods of a reader but Read.
type npyTestReaderOnly struct{ r io.Reader }

func (r npyTestReaderOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// TestReadMatrixNPYErrors checks ReadMatrixNPY's refusals, and that a header claiming a
// huge matrix in a small file fails without allocating for it, whether or not the size of
// the file is known. Not parallel: it measures allocations.
func TestReadMatrixNPYErrors(t *testing.T) {
	dir := t.TempDir()
	huge := npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }", make([]byte, 800))
	for _, tc := range []npyTestCase{
		{"1-d", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", make([]byte, 24)), []string{"shape (3,), want 2 dimensions"}},
		{"fortran", npyTestFile("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 1), }", make([]byte, 24)), []string{"fortran_order is True"}},
		{"int64", npyTestFile("{'descr': '<i8', 'fortran_order': False, 'shape': (3, 1), }", make([]byte, 24)), []string{"dtype <i8"}},
		{"short", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", make([]byte, 24)), []string{"truncated data", "needs 48 bytes of data, the file has 24"}},
		{"long", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 1), }", make([]byte, 30)), []string{"6 trailing bytes"}},
		{"huge", huge, []string{"truncated data", "needs 8000000000000 bytes of data, the file has 800"}},
		{"overflow", npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil), []string{"too large"}},
	} {
		path := filepath.Join(dir, tc.name+".npy")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, _, err := ReadMatrixNPY(path)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("ReadMatrixNPY(%s) succeeded", tc.name)
			continue
		}
		for _, want := range append([]string{path}, tc.want...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ReadMatrixNPY(%s): error %q does not contain %q", tc.name, err, want)
			}
		}
		// 4 MB: the reader's buffers, far from the size in the header.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Errorf("ReadMatrixNPY(%s) allocated %d bytes", tc.name, alloc)
		}
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := npyReadMatrix(npyTestReaderOnly{bytes.NewReader(huge)}, -1, "pipe")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated data: 800 of the 8000000000000 data bytes") {
		t.Errorf("npyReadMatrix(huge, size unknown): error %v, want truncated data", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("npyReadMatrix(huge, size unknown) allocated %d bytes", alloc)
	}
}

// TestNPYNumpy checks the files against numpy itself when /usr/bin/python3 has it: numpy
// loads what we write exactly, and we read what numpy saves.
func TestNPYNumpy(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if err := exec.CommandContext(t.Context(), python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("numpy cross-check skipped: %s cannot import numpy (%v); the other .npy tests do not need it", python, err)
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	w := npyTestWeights(11)
	if err := WriteWeights(p("w.npy"), w); err != nil {
		t.Fatal(err)
	}
	const rows, cols = 5, 7
	m := make([]float64, rows*cols)
	for i := range m {
		m[i] = float64(i) + 0.25
	}
	f, err := os.Create(p("m.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMatrixNPY(f, rows, cols, func(i int, dst []float64) { copy(dst, m[i*cols:]) }); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]float64{"w.raw": w, "m.raw": m} {
		if err := os.WriteFile(p(name), npyTestF8(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`
import os, sys, numpy as np
d = sys.argv[1]
w = np.load(os.path.join(d, "w.npy"))
assert w.shape == (784, 10) and w.dtype == np.dtype("<f8") and w.flags.c_contiguous, (w.shape, w.dtype)
assert np.array_equal(w.ravel(), np.fromfile(os.path.join(d, "w.raw"), "<f8")), "weights differ"
m = np.load(os.path.join(d, "m.npy"))
assert m.shape == (%d, %d) and m.dtype == np.dtype("<f8"), (m.shape, m.dtype)
assert np.array_equal(m.ravel(), np.fromfile(os.path.join(d, "m.raw"), "<f8")), "matrix differs"
np.save(os.path.join(d, "w2.npy"), 2 * w)
np.save(os.path.join(d, "flat.npy"), w.ravel())
np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(w))
np.save(os.path.join(d, "f32.npy"), w.astype(np.float32))
`, rows, cols)
	if out, err := exec.CommandContext(t.Context(), python, "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy refuses our files: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		scale float64
		want  string
	}{
		{"w2.npy", 2, ""}, {"flat.npy", 1, ""},
		{"fortran.npy", 0, "fortran_order is True"}, {"f32.npy", 0, "dtype <f4"},
	} {
		got, err := ReadWeights(p(tc.name))
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadWeights(numpy's %s): error %v, want %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ReadWeights(numpy's %s): %v", tc.name, err)
			continue
		}
		for i := range w {
			if got[i] != tc.scale*w[i] {
				t.Errorf("ReadWeights(numpy's %s): value %d = %v, want %v", tc.name, i, got[i], tc.scale*w[i])
				break
			}
		}
	}
}

// FuzzReadWeights checks that reading any bytes as weights or as a matrix never panics,
// that what is accepted is valid, and that the matrix reader agrees with itself whether or
// not it knows the size of the file.
func FuzzReadWeights(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteMatrixNPY(&buf, Pixels, Classes, func(j int, dst []float64) {
		copy(dst, npyTestWeights(3)[Classes*j:])
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	if err := npyio.Write(&buf, npyTestWeights(4)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(npyTestFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 48)))
	for _, tc := range npyTestCases() {
		f.Add(tc.file)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := npyReadWeights(bytes.NewReader(b), "fuzz.npy")
		if err == nil {
			if len(w) != Params {
				t.Fatalf("npyReadWeights returned %d values", len(w))
			}
			if err := npyCheckFinite(w, "fuzz.npy"); err != nil {
				t.Fatalf("npyReadWeights returned %v", err)
			}
		} else if !strings.Contains(err.Error(), "fuzz.npy") {
			t.Fatalf("error %q does not name the file", err)
		}
		r1, c1, d1, err1 := npyReadMatrix(bytes.NewReader(b), int64(len(b)), "fuzz.npy")
		r2, c2, d2, err2 := npyReadMatrix(npyTestReaderOnly{bytes.NewReader(b)}, -1, "fuzz.npy")
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("npyReadMatrix with and without the size disagree: %v / %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if r1 != r2 || c1 != c2 || len(d1) != r1*c1 || !slices.EqualFunc(d1, d2, func(x, y float64) bool {
			return math.Float64bits(x) == math.Float64bits(y)
		}) {
			t.Fatalf("npyReadMatrix: %dx%d (%d values) with the size, %dx%d (%d values) without", r1, c1, len(d1), r2, c2, len(d2))
		}
	})
}

// TestWriteVectorNPY: a vector is written as shape (n,) that npyio reads back exactly.
func TestWriteVectorNPY(t *testing.T) {
	v := []float64{-1.5, 0, math.SmallestNonzeroFloat64, 1e300, 3}
	var b bytes.Buffer
	if err := WriteVectorNPY(&b, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes()[:npyAlign], []byte("'shape': (5,)")) {
		t.Errorf("header %q; want shape (5,)", b.Bytes()[:npyAlign])
	}
	var got []float64
	if err := npyio.Read(bytes.NewReader(b.Bytes()), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, v) {
		t.Errorf("read back %v; want %v", got, v)
	}
}
