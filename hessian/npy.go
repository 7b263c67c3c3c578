package hessian

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The NumPy .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// the magic "\x93NUMPY", a major and a minor version byte, the header length (2 bytes
// little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then the header, a Python dict
// literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (784, 10), }
//
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes,
// then the data. This file writes version 1.0 and reads 1.0, 2.0 and 3.0, but only arrays of
// little-endian float64 ('<f8') in C (row-major) order.
//
// The reader is our own rather than codeberg.org/sbinet/npyio's: that one reads untrusted
// headers with unchecked slicing (a header without '\n' makes it panic) and reads the data
// with io.ReadAll, and its writer does not pad the header to 64 bytes. The tests use npyio
// to check that the files written here read back exactly.
const (
	npyMagic     = "\x93NUMPY"
	npyAlign     = 64      // the data starts at a multiple of 64 bytes (numpy's ARRAY_ALIGN)
	npyMaxHeader = 1 << 16 // longest header accepted; numpy's own limit is 10000 bytes
	npyMaxDims   = 32      // numpy's NPY_MAXDIMS
)

// npyHeader is the parsed header of a .npy file.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
	size    int64 // bytes before the data: magic, versions, length, header
}

// elems returns the number of elements of the array, and false if it exceeds max.
func (h *npyHeader) elems(max int64) (int64, bool) {
	n := int64(1)
	for _, d := range h.shape {
		if d != 0 && n > max/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// npyShapeString formats a shape as Python prints a tuple: (784, 10), (7840,), ().
func npyShapeString(shape []int64) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// npyEncodeHeader returns a version 1.0 header for a float64 C-order array of that shape,
// padded so that the data starts at a multiple of 64 bytes.
func npyEncodeHeader(shape []int64) []byte {
	dict := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", npyShapeString(shape))
	pre := len(npyMagic) + 4 // magic, 2 version bytes, 2 length bytes
	pad := (npyAlign - (pre+len(dict)+1)%npyAlign) % npyAlign
	hdr := make([]byte, 0, pre+len(dict)+pad+1)
	hdr = append(hdr, npyMagic...)
	hdr = append(hdr, 1, 0)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(dict)+pad+1))
	hdr = append(hdr, dict...)
	hdr = append(hdr, bytes.Repeat([]byte{' '}, pad)...)
	return append(hdr, '\n')
}

// npyReadHeader reads and parses the header of a .npy stream named name.
func npyReadHeader(r io.Reader, name string) (*npyHeader, error) {
	var pre [len(npyMagic) + 4]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("hessian: %s: truncated header: %d bytes, want at least %d for an .npy file", name, n, len(pre))
		}
		return nil, fmt.Errorf("hessian: %s: reading the header: %w", name, err)
	}
	if string(pre[:len(npyMagic)]) != npyMagic {
		return nil, fmt.Errorf("hessian: %s: not an .npy file: it starts with %q, want %q", name, pre[:len(npyMagic)], npyMagic)
	}
	major, minor := pre[6], pre[7]
	h := &npyHeader{size: int64(len(pre))}
	var hlen int64
	switch {
	case major == 1 && minor == 0:
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	case (major == 2 || major == 3) && minor == 0:
		var more [2]byte
		if _, err := io.ReadFull(r, more[:]); err != nil {
			return nil, fmt.Errorf("hessian: %s: truncated header: the 4-byte header length of format %d.0 is cut short", name, major)
		}
		hlen = int64(binary.LittleEndian.Uint32(append(pre[8:10:10], more[:]...)))
		h.size += 2
	default:
		return nil, fmt.Errorf("hessian: %s: .npy format version %d.%d, want 1.0, 2.0 or 3.0", name, major, minor)
	}
	if hlen > npyMaxHeader {
		return nil, fmt.Errorf("hessian: %s: header of %d bytes, more than the limit of %d: damaged file?", name, hlen, npyMaxHeader)
	}
	buf := make([]byte, hlen)
	if n, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("hessian: %s: truncated header: the file ends after %d of the %d header bytes", name, n, hlen)
		}
		return nil, fmt.Errorf("hessian: %s: reading the header: %w", name, err)
	}
	h.size += hlen
	if err := h.parse(string(buf)); err != nil {
		return nil, fmt.Errorf("hessian: %s: bad header %q: %w", name, npyClip(string(buf), 120), err)
	}
	return h, nil
}

// npyClip shortens s to at most n bytes for an error message.
func npyClip(s string, n int) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parse reads the header dict: the keys 'descr', 'fortran_order' and 'shape', each once,
// in any order, then only spaces up to the end.
func (h *npyHeader) parse(s string) error {
	p := &npyParser{s: s}
	if err := p.expect('{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.peek() == '}' {
			break
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		if seen[key] {
			return fmt.Errorf("key %q twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return err
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() != '\'' && p.peek() != '"' {
				return errors.New("descr is not a simple type string (a structured dtype?), want '<f8'")
			}
			h.descr, err = p.str()
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			return fmt.Errorf("unexpected key %q", key)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		p.space()
		if p.peek() != ',' {
			break
		}
		p.i++
	}
	if err := p.expect('}'); err != nil {
		return err
	}
	if rest := strings.Trim(s[p.i:], " \t\r\n\x00"); rest != "" {
		return fmt.Errorf("unexpected %q after the dict", npyClip(rest, 20))
	}
	for _, key := range [...]string{"descr", "fortran_order", "shape"} {
		if !seen[key] {
			return fmt.Errorf("no key %q", key)
		}
	}
	return nil
}

// npyParser reads the small subset of Python literals an .npy header uses.
type npyParser struct {
	s string
	i int
}

func (p *npyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *npyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *npyParser) expect(c byte) error {
	p.space()
	if p.peek() != c {
		return p.unexpected(fmt.Sprintf("%q", c))
	}
	p.i++
	return nil
}

func (p *npyParser) unexpected(want string) error {
	if p.i >= len(p.s) {
		return fmt.Errorf("header ends, want %s", want)
	}
	return fmt.Errorf("%q at header byte %d, want %s", p.s[p.i], p.i, want)
}

// str reads a quoted string without escapes.
func (p *npyParser) str() (string, error) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.unexpected("a quoted string")
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", errors.New("escape sequences are not supported in strings")
	}
	p.i += end + 2
	return v, nil
}

func (p *npyParser) boolean() (bool, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return false, p.unexpected("True or False")
}

// tuple reads a tuple of non-negative integers, such as (), (7840,) or (784, 10).
// Python 2 files may write 784L.
func (p *npyParser) tuple() ([]int64, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	shape := []int64{}
	for {
		p.space()
		if p.peek() == ')' {
			break
		}
		if len(shape) == npyMaxDims {
			return nil, fmt.Errorf("more than %d dimensions", npyMaxDims)
		}
		start := p.i
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, p.unexpected("a non-negative integer")
		}
		d, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dimension %s: %w", p.s[start:p.i], err)
		}
		shape = append(shape, d)
		if p.peek() == 'L' {
			p.i++
		}
		p.space()
		if p.peek() != ',' {
			if len(shape) == 1 && p.peek() == ')' {
				return nil, errors.New("(n) is not a tuple, want (n,)")
			}
			break
		}
		p.i++
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return shape, nil
}

// checkF8 checks that the array holds little-endian float64 in C order.
func (h *npyHeader) checkF8(name string) error {
	if h.descr != "<f8" {
		return fmt.Errorf("hessian: %s: dtype %s, want <f8 (float64, little-endian)", name, h.descr)
	}
	if h.fortran {
		return fmt.Errorf("hessian: %s: fortran_order is True (column-major), want C order (False): save with numpy.ascontiguousarray", name)
	}
	return nil
}

// npyReadF8 decodes n little-endian float64 values from r into a new slice. It reads in
// chunks and grows the slice as data arrives, so that a damaged shape cannot make it
// allocate more than the stream holds. dataStart is the byte offset of the data, for errors.
func npyReadF8(r io.Reader, n int64, name string, dataStart int64) ([]float64, error) {
	const chunk = 8192 // values per read
	out := make([]float64, 0, min(n, chunk))
	buf := make([]byte, 8*chunk)
	for int64(len(out)) < n {
		m := min(n-int64(len(out)), chunk)
		got, err := io.ReadFull(r, buf[:8*m])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("hessian: %s: truncated data: %d of the %d data bytes (%d float64 values) are there; the file ends at byte offset %d",
					name, 8*int64(len(out))+int64(got), 8*n, n, dataStart+8*int64(len(out))+int64(got))
			}
			return nil, fmt.Errorf("hessian: %s: reading the data: %w", name, err)
		}
		for i := range m {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
		}
	}
	return out, nil
}

// npyExpectEnd checks that r has nothing left after the data, which ends at byte offset end.
func npyExpectEnd(r io.Reader, name string, end int64) error {
	extra, err := io.Copy(io.Discard, io.LimitReader(r, idxMaxTrailing))
	if err != nil {
		return fmt.Errorf("hessian: %s: reading after the data: %w", name, err)
	}
	if extra > 0 {
		more := ""
		if extra == idxMaxTrailing {
			more = "at least "
		}
		return fmt.Errorf("hessian: %s: %s%s after the data, which ends at byte offset %d", name, more, idxTrailing(extra), end)
	}
	return nil
}

// ReadWeights reads model weights from an .npy file: a float64 ('<f8') C-order array of
// shape (784, 10) or (7840,), returned in the flat order v[10*j+k] = W[j,k] (MATH.md).
// A wrong shape, dtype or order, truncated or trailing data, and NaN or infinite values
// are errors that name the file and the reason.
func ReadWeights(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hessian: reading weights: %w", err)
	}
	defer f.Close()
	return npyReadWeights(bufio.NewReader(f), path)
}

// npyReadWeights is ReadWeights on a stream named name.
func npyReadWeights(r io.Reader, name string) ([]float64, error) {
	h, err := npyReadHeader(r, name)
	if err != nil {
		return nil, err
	}
	if err := h.checkF8(name); err != nil {
		return nil, err
	}
	flat := len(h.shape) == 1 && h.shape[0] == Params
	matrix := len(h.shape) == 2 && h.shape[0] == Pixels && h.shape[1] == Classes
	if !flat && !matrix {
		return nil, fmt.Errorf("hessian: %s: shape %s, want (%d, %d) or (%d,)", name, npyShapeString(h.shape), Pixels, Classes, Params)
	}
	w, err := npyReadF8(r, Params, name, h.size)
	if err != nil {
		return nil, err
	}
	if err := npyExpectEnd(r, name, h.size+8*Params); err != nil {
		return nil, err
	}
	if err := npyCheckFinite(w, name); err != nil {
		return nil, err
	}
	return w, nil
}

// npyCheckFinite returns an error for the first NaN or infinite weight.
func npyCheckFinite(w []float64, name string) error {
	for i, x := range w {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("hessian: %s: element %d (pixel %d, class %d) is %v, want a finite number", name, i, i/Classes, i%Classes, x)
		}
	}
	return nil
}

// WriteWeights writes the weights w, in flat order v[10*j+k] = W[j,k], to path as an .npy
// file of float64 of shape (784, 10) in C order, which numpy.load reads as W. The file is
// replaced atomically: the data goes to a temporary file in the same folder, which is
// synced and then renamed to path. w must have 7840 finite values.
func WriteWeights(path string, w []float64) (err error) {
	if len(w) != Params {
		return fmt.Errorf("hessian: writing weights %s: %d values, want %d", path, len(w), Params)
	}
	if err := npyCheckFinite(w, path); err != nil {
		return fmt.Errorf("%w; refusing to write it", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("hessian: writing weights: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	err = WriteMatrixNPY(f, Pixels, Classes, func(j int, dst []float64) {
		copy(dst, w[Classes*j:Classes*(j+1)])
	})
	if err != nil {
		return fmt.Errorf("hessian: writing weights %s: %w", tmp, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("hessian: writing weights: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("hessian: writing weights: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("hessian: writing weights: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hessian: writing weights: %w", err)
	}
	// Make the rename durable. Not every system can sync a folder, so this is best effort.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteVectorNPY writes v to w as a one-dimensional float64 .npy file (format 1.0, '<f8',
// shape (len(v),)), what numpy.load gives back as a vector. Errors are those of w; the
// caller names the file.
func WriteVectorNPY(w io.Writer, v []float64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(npyEncodeHeader([]int64{int64(len(v))})); err != nil {
		return fmt.Errorf("hessian: writing .npy header: %w", err)
	}
	var buf [8]byte
	for _, x := range v {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
		if _, err := bw.Write(buf[:]); err != nil {
			return fmt.Errorf("hessian: writing .npy: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hessian: writing .npy: %w", err)
	}
	return nil
}

// WriteMatrixNPY writes a rows x cols float64 matrix to w as an .npy file (format 1.0,
// '<f8', C order), streaming: it writes the header, then calls row(i, dst) for i = 0, 1, ...,
// rows-1 with a zeroed dst of length cols for the caller to fill with row i, and writes each
// row as it comes. Only one row is held at a time, so a 7840 x 7840 Hessian (492 MB) needs
// no second copy. Errors are those of w; the caller names the file.
func WriteMatrixNPY(w io.Writer, rows, cols int, row func(i int, dst []float64)) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("hessian: writing .npy: shape (%d, %d) has a negative dimension", rows, cols)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(npyEncodeHeader([]int64{int64(rows), int64(cols)})); err != nil {
		return fmt.Errorf("hessian: writing .npy header: %w", err)
	}
	dst := make([]float64, cols)
	buf := make([]byte, 8*cols)
	for i := range rows {
		clear(dst)
		row(i, dst)
		for k, x := range dst {
			binary.LittleEndian.PutUint64(buf[8*k:], math.Float64bits(x))
		}
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("hessian: writing .npy row %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hessian: writing .npy: %w", err)
	}
	return nil
}

// ReadMatrixNPY reads a 2-dimensional float64 ('<f8') C-order .npy file and returns its
// shape and its values in row-major order (data[i*cols+j]). The size the header announces
// is checked against the file before the data is allocated.
func ReadMatrixNPY(path string) (rows, cols int, data []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("hessian: reading matrix: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return npyReadMatrix(bufio.NewReaderSize(f, 1<<20), size, path)
}

// npyReadMatrix is ReadMatrixNPY on a stream of size bytes (-1 if unknown) named name.
func npyReadMatrix(r io.Reader, size int64, name string) (rows, cols int, data []float64, err error) {
	h, err := npyReadHeader(r, name)
	if err != nil {
		return 0, 0, nil, err
	}
	if err := h.checkF8(name); err != nil {
		return 0, 0, nil, err
	}
	if len(h.shape) != 2 {
		return 0, 0, nil, fmt.Errorf("hessian: %s: shape %s, want 2 dimensions", name, npyShapeString(h.shape))
	}
	n, ok := h.elems(math.MaxInt64 / 8)
	if !ok || h.shape[0] > math.MaxInt32 || h.shape[1] > math.MaxInt32 {
		return 0, 0, nil, fmt.Errorf("hessian: %s: shape %s is too large", name, npyShapeString(h.shape))
	}
	want := h.size + 8*n
	if size >= 0 {
		// The size is known: check it before allocating, then allocate exactly.
		if size < want {
			return 0, 0, nil, fmt.Errorf("hessian: %s: truncated data: shape %s needs %d bytes of data, the file has %d",
				name, npyShapeString(h.shape), 8*n, size-h.size)
		}
		if size > want {
			return 0, 0, nil, fmt.Errorf("hessian: %s: %s after the data of shape %s, which ends at byte offset %d",
				name, idxTrailing(size-want), npyShapeString(h.shape), want)
		}
		data = make([]float64, n)
		buf := make([]byte, 8*min(n, 8192))
		for i := int64(0); i < n; {
			m := min(n-i, int64(len(buf)/8))
			if _, err := io.ReadFull(r, buf[:8*m]); err != nil {
				return 0, 0, nil, fmt.Errorf("hessian: %s: reading the data: %w", name, err)
			}
			for k := range m {
				data[i+k] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*k:]))
			}
			i += m
		}
	} else if data, err = npyReadF8(r, n, name, h.size); err != nil {
		return 0, 0, nil, err
	}
	if err := npyExpectEnd(r, name, want); err != nil {
		return 0, 0, nil, err
	}
	return int(h.shape[0]), int(h.shape[1]), data, nil
}
