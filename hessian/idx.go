package hessian

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The IDX format (http://yann.lecun.com/exdb/mnist/, MATH.md "Data"): a big-endian
// header of 32-bit words, then the data as unsigned bytes.
//
//	images: magic 2051, count, rows (28), cols (28), then count*rows*cols pixel bytes
//	labels: magic 2049, count, then count label bytes in 0..9
//
// The magic number is two zero bytes, the element type (0x08: unsigned byte) and the
// number of dimensions (3 for images, 1 for labels).
const (
	idxImagesMagic  = 0x00000803 // 2051: unsigned bytes, 3 dimensions
	idxLabelsMagic  = 0x00000801 // 2049: unsigned bytes, 1 dimension
	idxImagesHeader = 16         // magic, count, rows, cols
	idxLabelsHeader = 8          // magic, count
)

// MaxIDXImages is the largest image count DecodeIDX accepts from a header. It is far above
// the 60000 MNIST training images; a header that claims more is refused before anything is
// allocated for it, so a damaged count cannot make the reader ask for terabytes.
const MaxIDXImages = 10_000_000

// idxBufSize is the buffer size of the readers on each stream.
const idxBufSize = 64 << 10

// idxMaxTrailing bounds how many trailing bytes are counted for an error message.
const idxMaxTrailing = 1 << 20

// LoadIDX reads a data set from an IDX image file and an IDX label file, each plain or
// gzip-compressed (recognised by its content, not its name). See DecodeIDX.
func LoadIDX(imagesPath, labelsPath string) (*Dataset, error) {
	fi, err := os.Open(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("hessian: opening IDX images: %w", err)
	}
	defer fi.Close()
	fl, err := os.Open(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("hessian: opening IDX labels: %w", err)
	}
	defer fl.Close()
	return DecodeIDX(fi, imagesPath, fl, labelsPath)
}

// DecodeIDX reads a data set from an IDX image stream and an IDX label stream. A stream
// that starts with the gzip magic bytes 0x1F 0x8B is decompressed, whatever its name;
// any other stream is read as raw IDX. The names are used only in error messages.
//
// DecodeIDX checks the magic numbers, that images are 28x28, that both headers give the
// same count (between 1 and MaxIDXImages), that each stream holds exactly the data its
// header announces (no less and no more), that every label is in 0..9 and that a gzip
// stream is intact (its checksum included). An error names the file and what was wrong:
// what was expected and what was found, with the byte offset (in the decompressed stream
// for gzip files) or the index of the image or label at fault. It never returns a partial
// Dataset.
//
// Memory grows with the data actually read, never with the count in a header.
// The images are kept sparse: only non-zero pixels are stored (see Dataset).
func DecodeIDX(images io.Reader, imagesName string, labels io.Reader, labelsName string) (*Dataset, error) {
	is, err := newIDXStream(images, imagesName)
	if err != nil {
		return nil, err
	}
	ls, err := newIDXStream(labels, labelsName)
	if err != nil {
		return nil, err
	}
	n, err := is.imagesHeader()
	if err != nil {
		return nil, err
	}
	m, err := ls.labelsHeader()
	if err != nil {
		return nil, err
	}
	if n != m {
		return nil, fmt.Errorf("hessian: count mismatch: %s has %d images but %s has %d labels", imagesName, n, labelsName, m)
	}

	b := NewBuilder(int(min(n, 4096))) // grows as images arrive, not from the header
	raw := make([]byte, Pixels)
	for i := range n {
		if _, err := is.readFull(raw); err != nil {
			return nil, is.dataError(err, "image", i, n, Pixels)
		}
		var lab [1]byte
		if _, err := ls.readFull(lab[:]); err != nil {
			return nil, ls.dataError(err, "label", i, n, 1)
		}
		if lab[0] >= Classes {
			return nil, fmt.Errorf("hessian: %s: label %d is %d at %s, want 0..9", labelsName, i, lab[0], ls.at(ls.off-1))
		}
		b.AddDense(lab[0], raw)
	}
	if err := is.expectEnd("images", n); err != nil {
		return nil, err
	}
	if err := ls.expectEnd("labels", n); err != nil {
		return nil, err
	}
	return b.Dataset(), nil
}

// idxStream reads one IDX stream, plain or gzip, and counts the bytes of the (decompressed)
// stream consumed so far, so errors can give offsets.
type idxStream struct {
	name string
	r    *bufio.Reader
	off  int64 // bytes of the decompressed stream consumed
	gz   bool  // the file is gzip-compressed
}

// idxSourceError marks an error of the underlying reader (a disk error, say), so that it is
// not mistaken for damaged data.
type idxSourceError struct{ err error }

func (e *idxSourceError) Error() string { return e.err.Error() }
func (e *idxSourceError) Unwrap() error { return e.err }

// idxGzipError marks an error of the gzip decompressor: a corrupt or truncated stream.
type idxGzipError struct{ err error }

func (e *idxGzipError) Error() string { return e.err.Error() }
func (e *idxGzipError) Unwrap() error { return e.err }

// idxSourceReader tags the errors of the underlying reader.
type idxSourceReader struct{ r io.Reader }

func (s idxSourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &idxSourceError{err}
	}
	return n, err
}

// idxGzipReader tags the errors of the decompressor that do not come from the source.
type idxGzipReader struct{ z *gzip.Reader }

func (g idxGzipReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		var se *idxSourceError
		if !errors.As(err, &se) {
			err = &idxGzipError{err}
		}
	}
	return n, err
}

// newIDXStream opens r, decompressing it when it starts with the gzip magic bytes.
func newIDXStream(r io.Reader, name string) (*idxStream, error) {
	s := &idxStream{name: name}
	br := bufio.NewReaderSize(idxSourceReader{r}, idxBufSize)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("hessian: %s: reading at byte 0: %w", name, err)
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		s.r = br
		return s, nil
	}
	s.gz = true
	z, err := gzip.NewReader(br)
	if err != nil {
		var se *idxSourceError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("hessian: %s: reading the gzip header: %w", name, se.err)
		}
		return nil, fmt.Errorf("hessian: %s: corrupt gzip stream: bad gzip header: %w", name, err)
	}
	s.r = bufio.NewReaderSize(idxGzipReader{z}, idxBufSize)
	return s, nil
}

// at describes a byte offset of the stream for an error message.
func (s *idxStream) at(off int64) string {
	if s.gz {
		return fmt.Sprintf("byte offset %d of the decompressed stream", off)
	}
	return fmt.Sprintf("byte offset %d", off)
}

// readFull fills p from the stream and advances the offset by what was read.
func (s *idxStream) readFull(p []byte) (int, error) {
	n, err := io.ReadFull(s.r, p)
	s.off += int64(n)
	return n, err
}

// ioError turns an error of the source or of the decompressor into a message.
// It returns nil for the end of the stream (io.EOF or io.ErrUnexpectedEOF from ReadFull),
// which the caller reports as truncated data.
func (s *idxStream) ioError(err error) error {
	var se *idxSourceError
	if errors.As(err, &se) {
		return fmt.Errorf("hessian: %s: reading at %s: %w", s.name, s.at(s.off), se.err)
	}
	var ge *idxGzipError
	if errors.As(err, &ge) {
		if errors.Is(ge.err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("hessian: %s: corrupt gzip stream: the compressed data ends early, at %s: %w", s.name, s.at(s.off), ge.err)
		}
		return fmt.Errorf("hessian: %s: corrupt gzip stream at %s: %w", s.name, s.at(s.off), ge.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("hessian: %s: reading at %s: %w", s.name, s.at(s.off), err)
}

// header reads the size-byte header of a file of the given kind and checks its magic.
// A wrong magic number is reported before a short header, as it says more.
func (s *idxStream) header(h []byte, magic uint32, kind string) error {
	n, err := s.readFull(h)
	if err != nil {
		if e := s.ioError(err); e != nil {
			return e
		}
	}
	if got := binary.BigEndian.Uint32(h); n >= 4 && got != magic {
		hint := ""
		switch {
		case got == idxImagesMagic:
			hint = " (an IDX image file: images and labels swapped?)"
		case got == idxLabelsMagic:
			hint = " (an IDX label file: images and labels swapped?)"
		case got>>8 == 0x08 && got&0xff != 0:
			hint = fmt.Sprintf(" (IDX bytes of %d dimensions)", got&0xff)
		}
		return fmt.Errorf("hessian: %s: bad magic number %d (0x%08x) at byte offset 0%s, want %d (0x%08x) for an IDX %s file", s.name, got, got, hint, magic, magic, kind)
	}
	if err != nil {
		what := "file"
		if s.gz {
			what = "decompressed stream"
		}
		return fmt.Errorf("hessian: %s: truncated header: the %s has %d bytes, want at least %d for the header of an IDX %s file", s.name, what, n, len(h), kind)
	}
	return nil
}

// count checks the count of an IDX header, at byte offset 4.
func (s *idxStream) count(h []byte, what string) (int64, error) {
	n := int64(binary.BigEndian.Uint32(h[4:]))
	switch {
	case n == 0:
		return 0, fmt.Errorf("hessian: %s: header (byte offset 4) says 0 %s, want at least 1", s.name, what)
	case n > MaxIDXImages:
		return 0, fmt.Errorf("hessian: %s: header (byte offset 4) claims %d %s, more than the limit of %d: damaged header?", s.name, n, what, MaxIDXImages)
	}
	return n, nil
}

// imagesHeader reads and checks the header of an image file and returns its count.
func (s *idxStream) imagesHeader() (int64, error) {
	var h [idxImagesHeader]byte
	if err := s.header(h[:], idxImagesMagic, "image"); err != nil {
		return 0, err
	}
	rows, cols := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
	if rows != Side || cols != Side {
		return 0, fmt.Errorf("hessian: %s: images are %dx%d (rows x cols at byte offsets 8 and 12), want %dx%d", s.name, rows, cols, Side, Side)
	}
	return s.count(h[:], "images")
}

// labelsHeader reads and checks the header of a label file and returns its count.
func (s *idxStream) labelsHeader() (int64, error) {
	var h [idxLabelsHeader]byte
	if err := s.header(h[:], idxLabelsMagic, "label"); err != nil {
		return 0, err
	}
	return s.count(h[:], "labels")
}

// dataError reports a failed read of item i (an image or a label of size bytes) out of n.
func (s *idxStream) dataError(err error, item string, i, n, size int64) error {
	if e := s.ioError(err); e != nil {
		return e
	}
	hdr := int64(idxImagesHeader)
	if size == 1 {
		hdr = idxLabelsHeader
	}
	return fmt.Errorf("hessian: %s: truncated data: %s %d (counting from 0) needs the bytes up to offset %d, but the data ends at %s; the header says %d %ss, %d bytes in all",
		s.name, item, i, hdr+(i+1)*size, s.at(s.off), n, item, hdr+n*size)
}

// expectEnd checks that the stream ends where the header says (after n items of kind),
// and, for gzip, that the stream is intact to its end (the checksum is checked then).
func (s *idxStream) expectEnd(kind string, n int64) error {
	end := s.off
	extra, err := io.Copy(io.Discard, io.LimitReader(s.r, idxMaxTrailing))
	s.off += extra
	if err != nil {
		if e := s.ioError(err); e != nil {
			return e
		}
	}
	if extra == 0 {
		return nil
	}
	more := ""
	if extra == idxMaxTrailing {
		more = "at least "
	}
	return fmt.Errorf("hessian: %s: %s%s after %s, where the header's %d %s end", s.name, more, idxTrailing(extra), s.at(end), n, kind)
}

// idxTrailing says "1 trailing byte" or "n trailing bytes".
func idxTrailing(n int64) string {
	if n == 1 {
		return "1 trailing byte"
	}
	return fmt.Sprintf("%d trailing bytes", n)
}
