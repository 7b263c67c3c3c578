package hessian

import (
	"fmt"
	"math/rand/v2"
)

// Image geometry and parameter count of the model (MATH.md).
const (
	Side    = 28               // rows and columns of an image
	Pixels  = Side * Side      // 784 pixels, pixel j = 28*row + col
	Classes = 10               // digits 0..9
	Params  = Pixels * Classes // 7840 parameters, v[10*j+k] = W[j,k]
)

// pixelValue maps a raw byte to the pixel value byte/255 exactly as MATH.md defines it.
var pixelValue = func() (t [256]float64) {
	for b := range t {
		t[b] = float64(b) / 255
	}
	return t
}()

// PixelValue returns the pixel value b/255 of a raw byte.
func PixelValue(b uint8) float64 { return pixelValue[b] }

// Dataset holds images as sparse lists of their non-zero pixels (compressed rows), and
// their labels. Image s has the pixels Pixel[Start[s]:Start[s+1]], in increasing order,
// with raw bytes Value[Start[s]:Start[s+1]] (never 0); its pixel values are byte/255.
//
// A Dataset is read-only once built: slices share storage with their parent.
type Dataset struct {
	Labels []uint8  // one per image, 0..9
	Start  []int64  // len(Labels)+1 offsets into Pixel and Value
	Pixel  []uint16 // pixel indices 0..783, increasing within an image
	Value  []uint8  // raw bytes 1..255
}

// Len returns the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// NonZeros returns the total number of non-zero pixels over all images.
func (d *Dataset) NonZeros() int64 { return d.Start[len(d.Start)-1] - d.Start[0] }

// Image returns the non-zero pixels of image s and their raw bytes, sharing storage.
func (d *Dataset) Image(s int) (pix []uint16, val []uint8) {
	lo, hi := d.Start[s], d.Start[s+1]
	return d.Pixel[lo:hi], d.Value[lo:hi]
}

// Dense returns image s as 784 pixel values in [0,1].
func (d *Dataset) Dense(s int) []float64 {
	x := make([]float64, Pixels)
	pix, val := d.Image(s)
	for i, j := range pix {
		x[j] = pixelValue[val[i]]
	}
	return x
}

// Slice returns images lo..hi-1 as a Dataset that shares storage with d.
func (d *Dataset) Slice(lo, hi int) *Dataset {
	if lo < 0 || hi > d.Len() || lo > hi {
		panic(fmt.Sprintf("hessian: slice [%d:%d] of a dataset of %d images", lo, hi, d.Len()))
	}
	return &Dataset{Labels: d.Labels[lo:hi], Start: d.Start[lo : hi+1], Pixel: d.Pixel, Value: d.Value}
}

// Sample returns n distinct images chosen at random with the given seed, in a new Dataset.
func (d *Dataset) Sample(n int, seed uint64) (*Dataset, error) {
	if n < 1 || n > d.Len() {
		return nil, fmt.Errorf("hessian: sample of %d images from a dataset of %d", n, d.Len())
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	idx := r.Perm(d.Len())[:n]
	return d.Subset(idx), nil
}

// Subset copies the listed images, in that order, into a new Dataset.
func (d *Dataset) Subset(idx []int) *Dataset {
	b := NewBuilder(len(idx))
	for _, s := range idx {
		pix, val := d.Image(s)
		b.AddSparse(d.Labels[s], pix, val)
	}
	return b.Dataset()
}

// Builder builds a Dataset image by image.
type Builder struct{ d Dataset }

// NewBuilder returns a Builder with room for about n images.
func NewBuilder(n int) *Builder {
	b := &Builder{}
	b.d.Labels = make([]uint8, 0, n)
	b.d.Start = make([]int64, 1, n+1)
	b.d.Pixel = make([]uint16, 0, n*160)
	b.d.Value = make([]uint8, 0, n*160)
	return b
}

// AddDense appends an image given as 784 raw bytes, keeping its non-zero pixels.
func (b *Builder) AddDense(label uint8, raw []uint8) {
	if len(raw) != Pixels {
		panic(fmt.Sprintf("hessian: image of %d bytes, want %d", len(raw), Pixels))
	}
	for j, v := range raw {
		if v != 0 {
			b.d.Pixel = append(b.d.Pixel, uint16(j))
			b.d.Value = append(b.d.Value, v)
		}
	}
	b.d.Labels = append(b.d.Labels, label)
	b.d.Start = append(b.d.Start, int64(len(b.d.Pixel)))
}

// AddSparse appends an image given by its non-zero pixels (increasing) and raw bytes.
func (b *Builder) AddSparse(label uint8, pix []uint16, val []uint8) {
	b.d.Pixel = append(b.d.Pixel, pix...)
	b.d.Value = append(b.d.Value, val...)
	b.d.Labels = append(b.d.Labels, label)
	b.d.Start = append(b.d.Start, int64(len(b.d.Pixel)))
}

// Dataset returns the images added so far. The Builder must not be used afterwards.
func (b *Builder) Dataset() *Dataset { d := b.d; return &d }

// Validate checks the invariants of a Dataset built elsewhere (a file, the network):
// offsets increasing and in range, pixels increasing and below 784, bytes non-zero,
// labels below 10. The error names the first image at fault.
func (d *Dataset) Validate() error {
	if len(d.Start) != len(d.Labels)+1 {
		return fmt.Errorf("hessian: dataset has %d offsets for %d images", len(d.Start), len(d.Labels))
	}
	if len(d.Pixel) != len(d.Value) {
		return fmt.Errorf("hessian: dataset has %d pixel indices and %d values", len(d.Pixel), len(d.Value))
	}
	for s := range d.Labels {
		if d.Labels[s] >= Classes {
			return fmt.Errorf("hessian: image %d has label %d, want 0..9", s, d.Labels[s])
		}
		lo, hi := d.Start[s], d.Start[s+1]
		if lo < 0 || hi < lo || hi > int64(len(d.Pixel)) {
			return fmt.Errorf("hessian: image %d has pixel range [%d,%d) outside 0..%d", s, lo, hi, len(d.Pixel))
		}
		prev := -1
		for i := lo; i < hi; i++ {
			j := int(d.Pixel[i])
			if j >= Pixels || j <= prev {
				return fmt.Errorf("hessian: image %d: pixel index %d after %d (want increasing, below %d)", s, j, prev, Pixels)
			}
			if d.Value[i] == 0 {
				return fmt.Errorf("hessian: image %d: pixel %d stored with value 0", s, j)
			}
			prev = j
		}
	}
	return nil
}
