package clusterrpc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/hessian-cluster/hess/hessian"
	pb "github.com/hessian-cluster/hess/proto/hessian/v1"
)

// sampleSet is a small dataset with empty and full images.
func sampleSet() *hessian.Dataset {
	b := hessian.NewBuilder(4)
	raw := make([]uint8, hessian.Pixels)
	b.AddDense(3, raw) // an empty image
	for j := range raw {
		raw[j] = uint8(1 + j%255)
	}
	b.AddDense(9, raw) // every pixel lit
	clear(raw)
	raw[0], raw[400], raw[783] = 255, 1, 77
	b.AddDense(0, raw)
	return b.Dataset()
}

func encodeSet(d *hessian.Dataset) ([]byte, *pb.DataHeader) {
	b, _ := io.ReadAll(NewDataReader(d))
	sum := sha256.Sum256(b)
	return b, &pb.DataHeader{Sha256: sum[:], Images: uint64(d.Len()), Nonzeros: uint64(d.NonZeros()), Size: uint64(len(b))}
}

// TestDataRoundTrip encodes and decodes in chunks of every size from 1 byte.
func TestDataRoundTrip(t *testing.T) {
	d := sampleSet()
	enc, hdr := encodeSet(d)
	if uint64(len(enc)) != DataSize(uint64(d.Len()), uint64(d.NonZeros())) {
		t.Fatalf("encoding of %d bytes; DataSize says %d", len(enc), DataSize(uint64(d.Len()), uint64(d.NonZeros())))
	}
	sum, size := DataDigest(d)
	if !bytes.Equal(sum[:], hdr.Sha256) || size != uint64(len(enc)) {
		t.Errorf("DataDigest = %x, %d; want %x, %d", sum, size, hdr.Sha256, len(enc))
	}
	for _, chunk := range []int{1, 2, 3, 7, 100, len(enc)} {
		dec, err := NewDataDecoder(hdr, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < len(enc); lo += chunk {
			if _, err := dec.Write(enc[lo:min(lo+chunk, len(enc))]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := dec.Finish()
		if err != nil {
			t.Fatalf("chunks of %d: %v", chunk, err)
		}
		again, _ := encodeSet(got)
		if !bytes.Equal(again, enc) {
			t.Errorf("chunks of %d: the decoded set encodes differently", chunk)
		}
	}
}

// TestDataDecoderErrors: every damage is refused with the field at fault.
func TestDataDecoderErrors(t *testing.T) {
	d := sampleSet()
	enc, hdr := encodeSet(d)
	clone := func(f func(h *pb.DataHeader)) *pb.DataHeader {
		h := &pb.DataHeader{Sha256: hdr.Sha256, Images: hdr.Images, Nonzeros: hdr.Nonzeros, Size: hdr.Size}
		f(h)
		return h
	}
	for _, tc := range []struct {
		name string
		hdr  *pb.DataHeader
		max  uint64
		want string
	}{
		{"nil", nil, 1 << 20, "header: missing"},
		{"hash", clone(func(h *pb.DataHeader) { h.Sha256 = h.Sha256[:3] }), 1 << 20, "header.sha256"},
		{"no images", clone(func(h *pb.DataHeader) { h.Images = 0 }), 1 << 20, "header.images"},
		{"too many images", clone(func(h *pb.DataHeader) { h.Images = MaxImages + 1 }), 1 << 20, "header.images"},
		{"nonzeros", clone(func(h *pb.DataHeader) { h.Nonzeros = 785 * h.Images }), 1 << 20, "header.nonzeros"},
		{"size", clone(func(h *pb.DataHeader) { h.Size++ }), 1 << 20, "header.size"},
		{"limit", hdr, 100, "above this worker's limit"},
	} {
		_, err := NewDataDecoder(tc.hdr, tc.max)
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a FieldError mentioning %q", tc.name, err, tc.want)
		}
	}
	damage := func(off int, v byte) []byte {
		b := append([]byte(nil), enc...)
		b[off] = v
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		hash bool // recompute the hash over the damaged bytes
		want string
	}{
		{"short", enc[:len(enc)-1], false, "ended after"},
		{"flipped byte", damage(len(enc)-1, enc[len(enc)-1]^1), false, "SHA-256"},
		{"magic", damage(0, 'X'), true, "header does not match"},
		{"label 10", damage(24, 10), true, "label 10"},
		{"count", damage(24+3+2, 0), true, "add up to"},                        // image 1: 784 = 0x0310 -> 0x0300
		{"pixel 65424", damage(24+3*3+2*(784+1)+1, 0xff), true, "pixel index"}, // image 2, pixel 400 -> 0xff90
	} {
		h := hdr
		if tc.hash {
			sum := sha256.Sum256(tc.data)
			h = clone(func(h *pb.DataHeader) { h.Sha256 = sum[:] })
		}
		dec, err := NewDataDecoder(h, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dec.Write(tc.data)
		if err == nil {
			_, err = dec.Finish()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	dec, _ := NewDataDecoder(hdr, 1<<20)
	if _, err := dec.Write(append(append([]byte(nil), enc...), 0)); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("one byte too many: %v", err)
	}
}

// FuzzDataDecoder feeds arbitrary headers and bytes: the decoder never panics and never
// allocates past its limit, and what it accepts is a valid set that encodes to the same
// bytes.
func FuzzDataDecoder(f *testing.F) {
	enc, hdr := encodeSet(sampleSet())
	f.Add(hdr.Images, hdr.Nonzeros, enc, 5)
	f.Add(uint64(1), uint64(0), enc[:27], 1)
	f.Fuzz(func(t *testing.T, images, nonzeros uint64, data []byte, chunk int) {
		sum := sha256.Sum256(data)
		h := &pb.DataHeader{Sha256: sum[:], Images: images, Nonzeros: nonzeros, Size: DataSize(images, nonzeros)}
		dec, err := NewDataDecoder(h, 1<<20)
		if err != nil {
			return
		}
		chunk = max(1, chunk%97)
		for lo := 0; lo < len(data); lo += chunk {
			if _, err := dec.Write(data[lo:min(lo+chunk, len(data))]); err != nil {
				return
			}
		}
		d, err := dec.Finish()
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted an invalid set: %v", err)
		}
		again, _ := encodeSet(d)
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted %d bytes that encode back differently", len(data))
		}
	})
}

// FuzzFloatReceiver: chunks of any shape are decoded exactly or refused.
func FuzzFloatReceiver(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, 1, 3)
	f.Fuzz(func(t *testing.T, chunk []byte, n, split int) {
		n = max(0, n%64)
		dst := make([]float64, n)
		r := NewFloatReceiver(dst)
		split = max(1, split%17) * 8
		var got []byte
		for lo := 0; lo < len(chunk); lo += split {
			part := chunk[lo:min(lo+split, len(chunk))]
			if err := r.Write(part); err != nil {
				return
			}
			got = append(got, part...)
		}
		if r.Received() != len(got)/8 || r.Received() > n {
			t.Fatalf("received %d values of %d from %d bytes", r.Received(), n, len(got))
		}
		want := make([]float64, len(got)/8)
		for i := range want {
			want[i] = math.Float64frombits(uint64(got[8*i]) | uint64(got[8*i+1])<<8 | uint64(got[8*i+2])<<16 | uint64(got[8*i+3])<<24 |
				uint64(got[8*i+4])<<32 | uint64(got[8*i+5])<<40 | uint64(got[8*i+6])<<48 | uint64(got[8*i+7])<<56)
			if math.Float64bits(dst[i]) != math.Float64bits(want[i]) {
				t.Fatalf("value %d: %v, want %v", i, dst[i], want[i])
			}
		}
		enc := EncodeFloats(make([]byte, 8*len(want)), dst[:len(want)])
		if !bytes.Equal(enc, got) {
			t.Fatalf("EncodeFloats does not give back the bytes")
		}
	})
}
