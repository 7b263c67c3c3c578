package clusterrpc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"github.com/hessian-cluster/hess/hessian"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// The training set's wire encoding (documented with pb.DataHeader): a 24-byte header,
// then labels, per-image pixel counts (uint16), pixel indices (uint16) and raw values,
// little-endian. Its SHA-256 is the set's name in the workers' cache.
const (
	dataMagic       = "HESSDS1\n"
	dataHeaderBytes = 24
	// MaxImages bounds the images of a training set on the wire.
	MaxImages = 1 << 28
)

// DataSize returns the size of the encoding of a set with the given counts.
func DataSize(images, nonzeros uint64) uint64 { return dataHeaderBytes + 3*images + 3*nonzeros }

// dataSections returns the end offsets of the header, labels, counts, pixels and values.
func dataSections(images, nonzeros uint64) [5]uint64 {
	h := uint64(dataHeaderBytes)
	l := h + images
	c := l + 2*images
	p := c + 2*nonzeros
	return [5]uint64{h, l, c, p, p + nonzeros}
}

// DataReader streams the encoding of a dataset without building it in memory.
type DataReader struct {
	d      *hessian.Dataset
	header [dataHeaderBytes]byte
	ends   [5]uint64
	pos    uint64
}

// NewDataReader returns a reader of d's encoding.
func NewDataReader(d *hessian.Dataset) *DataReader {
	n, nnz := uint64(d.Len()), uint64(d.NonZeros())
	r := &DataReader{d: d, ends: dataSections(n, nnz)}
	copy(r.header[:], dataMagic)
	binary.LittleEndian.PutUint64(r.header[8:], n)
	binary.LittleEndian.PutUint64(r.header[16:], nnz)
	return r
}

// Size returns the length of the encoding.
func (r *DataReader) Size() uint64 { return r.ends[4] }

// Read fills p with the next bytes of the encoding.
func (r *DataReader) Read(p []byte) (int, error) {
	if r.pos >= r.ends[4] {
		return 0, io.EOF
	}
	d := r.d
	base := d.Start[0]
	n := 0
	for n < len(p) && r.pos < r.ends[4] {
		pos := r.pos
		k := 1
		switch {
		case pos < r.ends[0]:
			k = copy(p[n:], r.header[pos:])
		case pos < r.ends[1]:
			k = copy(p[n:], d.Labels[pos-r.ends[0]:])
		case pos < r.ends[2]:
			b := pos - r.ends[1]
			s := b / 2
			cnt := uint16(d.Start[s+1] - d.Start[s])
			p[n] = byte(cnt >> (8 * (b % 2)))
		case pos < r.ends[3]:
			b := pos - r.ends[2]
			px := d.Pixel[base+int64(b/2)]
			p[n] = byte(px >> (8 * (b % 2)))
		default:
			lo := base + int64(pos-r.ends[3])
			k = copy(p[n:], d.Value[lo:base+d.NonZeros()])
		}
		n += k
		r.pos += uint64(k)
	}
	return n, nil
}

// DataDigest returns the SHA-256 and the size of d's encoding.
func DataDigest(d *hessian.Dataset) (sum [32]byte, size uint64) {
	h := sha256.New()
	r := NewDataReader(d)
	if _, err := io.Copy(h, r); err != nil {
		panic(err) // a DataReader never fails
	}
	h.Sum(sum[:0])
	return sum, r.Size()
}

// DataBytes returns the memory a decoded set of this size takes.
func DataBytes(images, nonzeros uint64) uint64 { return images*(1+8) + 8 + 3*nonzeros }

// FieldError is a request field with a bad value; a server returns it as
// INVALID_ARGUMENT.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// DataDecoder rebuilds a dataset from its encoding, chunk by chunk, checking everything:
// the sizes before allocating, the hash and the dataset's invariants at the end.
type DataDecoder struct {
	images, nonzeros uint64
	want             []byte
	ends             [5]uint64
	pos              uint64
	header           [dataHeaderBytes]byte
	d                *hessian.Dataset
	counts           []uint16
	hash             hash.Hash
}

// NewDataDecoder checks a header against the limits (maxBytes of decoded data) and
// allocates the dataset it announces. Errors are *FieldError.
func NewDataDecoder(h *pb.DataHeader, maxBytes uint64) (*DataDecoder, error) {
	switch {
	case h == nil:
		return nil, &FieldError{"header", "missing in the first message"}
	case len(h.GetSha256()) != sha256.Size:
		return nil, &FieldError{"header.sha256", fmt.Sprintf("%d bytes, want %d", len(h.GetSha256()), sha256.Size)}
	case h.GetImages() < 1 || h.GetImages() > MaxImages:
		return nil, &FieldError{"header.images", fmt.Sprintf("%d, want 1..%d", h.GetImages(), MaxImages)}
	case h.GetNonzeros() > h.GetImages()*hessian.Pixels:
		return nil, &FieldError{"header.nonzeros", fmt.Sprintf("%d, more than %d pixels x %d images", h.GetNonzeros(), hessian.Pixels, h.GetImages())}
	case h.GetSize() != DataSize(h.GetImages(), h.GetNonzeros()):
		return nil, &FieldError{"header.size", fmt.Sprintf("%d, want %d for %d images and %d non-zeros", h.GetSize(), DataSize(h.GetImages(), h.GetNonzeros()), h.GetImages(), h.GetNonzeros())}
	case DataBytes(h.GetImages(), h.GetNonzeros()) > maxBytes:
		return nil, &FieldError{"header.size", fmt.Sprintf("the set needs %d bytes in memory, above this worker's limit of %d", DataBytes(h.GetImages(), h.GetNonzeros()), maxBytes)}
	}
	n, nnz := h.GetImages(), h.GetNonzeros()
	return &DataDecoder{
		images: n, nonzeros: nnz, want: h.GetSha256(), ends: dataSections(n, nnz),
		d: &hessian.Dataset{
			Labels: make([]uint8, n),
			Start:  make([]int64, n+1),
			Pixel:  make([]uint16, nnz),
			Value:  make([]uint8, nnz),
		},
		counts: make([]uint16, n),
		hash:   sha256.New(),
	}, nil
}

// Received returns the number of bytes decoded so far.
func (dec *DataDecoder) Received() uint64 { return dec.pos }

// Write decodes the next bytes of the encoding.
func (dec *DataDecoder) Write(p []byte) (int, error) {
	if uint64(len(p)) > dec.ends[4]-dec.pos {
		return 0, &FieldError{"chunk", fmt.Sprintf("data longer than the announced %d bytes", dec.ends[4])}
	}
	dec.hash.Write(p)
	for i := 0; i < len(p); {
		pos := dec.pos
		switch {
		case pos < dec.ends[0]:
			k := copy(dec.header[pos:], p[i:])
			i += k
			dec.pos += uint64(k)
			continue
		case pos < dec.ends[1]:
			k := copy(dec.d.Labels[pos-dec.ends[0]:], p[i:])
			i += k
			dec.pos += uint64(k)
			continue
		case pos < dec.ends[2]:
			b := pos - dec.ends[1]
			dec.counts[b/2] |= uint16(p[i]) << (8 * (b % 2))
		case pos < dec.ends[3]:
			b := pos - dec.ends[2]
			dec.d.Pixel[b/2] |= uint16(p[i]) << (8 * (b % 2))
		default:
			k := copy(dec.d.Value[pos-dec.ends[3]:], p[i:])
			i += k
			dec.pos += uint64(k)
			continue
		}
		i++
		dec.pos++
	}
	return len(p), nil
}

// Finish checks that the whole encoding arrived and matches its hash, and returns the
// validated dataset.
func (dec *DataDecoder) Finish() (*hessian.Dataset, error) {
	if dec.pos != dec.ends[4] {
		return nil, &FieldError{"chunk", fmt.Sprintf("data ended after %d of %d bytes", dec.pos, dec.ends[4])}
	}
	if got := dec.hash.Sum(nil); !bytes.Equal(got, dec.want) {
		return nil, &FieldError{"header.sha256", fmt.Sprintf("the data's SHA-256 is %x, not the announced %x", got, dec.want)}
	}
	if string(dec.header[:8]) != dataMagic ||
		binary.LittleEndian.Uint64(dec.header[8:]) != dec.images ||
		binary.LittleEndian.Uint64(dec.header[16:]) != dec.nonzeros {
		return nil, &FieldError{"chunk", "the encoding's header does not match the announced counts"}
	}
	var off int64
	for s, c := range dec.counts {
		if c > hessian.Pixels {
			return nil, &FieldError{"chunk", fmt.Sprintf("image %d has %d pixels, more than %d", s, c, hessian.Pixels)}
		}
		off += int64(c)
		dec.d.Start[s+1] = off
	}
	if uint64(off) != dec.nonzeros {
		return nil, &FieldError{"chunk", fmt.Sprintf("pixel counts add up to %d, not the announced %d non-zeros", off, dec.nonzeros)}
	}
	if err := dec.d.Validate(); err != nil {
		return nil, &FieldError{"chunk", err.Error()}
	}
	d := dec.d
	dec.d, dec.counts = nil, nil
	return d, nil
}
