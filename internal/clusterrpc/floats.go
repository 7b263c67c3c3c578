package clusterrpc

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tiles travel as their row-major float64 values, little-endian, in chunks of at most
// ChunkBytes (131072 values).

// ChunkValues is the number of float64 values in a full chunk.
const ChunkValues = ChunkBytes / 8

// EncodeFloats writes src into dst (8 bytes per value, little-endian) and returns the
// bytes written. dst must hold 8*len(src) bytes.
func EncodeFloats(dst []byte, src []float64) []byte {
	dst = dst[:8*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(v))
	}
	return dst
}

// SendFloats calls send with the encoding of data in chunks of at most ChunkBytes, using
// buf (grown when shorter than a chunk) for them. It stops at send's first error.
func SendFloats(data []float64, buf []byte, send func(chunk []byte) error) error {
	if cap(buf) < ChunkBytes {
		buf = make([]byte, ChunkBytes)
	}
	for lo := 0; lo < len(data); lo += ChunkValues {
		if err := send(EncodeFloats(buf[:cap(buf)], data[lo:min(lo+ChunkValues, len(data))])); err != nil {
			return err
		}
	}
	return nil
}

// FloatReceiver reassembles values sent by SendFloats into a slice of known length.
type FloatReceiver struct {
	dst []float64
	n   int
}

// NewFloatReceiver returns a receiver that fills dst.
func NewFloatReceiver(dst []float64) *FloatReceiver { return &FloatReceiver{dst: dst} }

// Write decodes the next chunk. Errors are *FieldError.
func (r *FloatReceiver) Write(chunk []byte) error {
	if len(chunk)%8 != 0 {
		return &FieldError{"chunk", fmt.Sprintf("%d bytes, not a whole number of float64 values", len(chunk))}
	}
	if len(chunk) > ChunkBytes {
		return &FieldError{"chunk", fmt.Sprintf("%d bytes, above the chunk limit of %d", len(chunk), ChunkBytes)}
	}
	k := len(chunk) / 8
	if k > len(r.dst)-r.n {
		return &FieldError{"chunk", fmt.Sprintf("more than the announced %d values", len(r.dst))}
	}
	d := r.dst[r.n : r.n+k]
	for i := range d {
		d[i] = math.Float64frombits(binary.LittleEndian.Uint64(chunk[8*i:]))
	}
	r.n += k
	return nil
}

// Done reports whether all values arrived.
func (r *FloatReceiver) Done() bool { return r.n == len(r.dst) }

// Received returns the number of values received.
func (r *FloatReceiver) Received() int { return r.n }
