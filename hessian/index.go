package hessian

// The pixels are split into cells of cellPixels consecutive pixels, the grid on which
// AddBlock cuts its pixel ranges.
const (
	cellPixels = 24
	cells      = (Pixels + cellPixels - 1) / cellPixels // 33
)

// Index holds the lit pixels of a Dataset cell by cell, the order in which the assembly
// reads them: for each cell, the images that light some pixel of it, and their pixels in
// it. The assembly of one pair of cells then reads two sequential streams instead of
// searching every image. It depends only on the images, so it is built once per dataset;
// it takes 2 bytes per lit pixel and 8 per (image, cell) pair, about 30 MB for MNIST's
// 60000 training images (as much as the Dataset itself).
type Index struct {
	d     *Dataset
	cells [cells]cellStream
}

// cellStream is one cell of an Index.
type cellStream struct {
	img   []int32 // the images with a lit pixel in the cell, increasing
	start []int32 // len(img)+1 offsets into pix and val
	pix   []uint8 // per image, its lit pixels in the cell, increasing, minus the cell's first
	val   []uint8 // their raw bytes
}

// NewIndex builds the index of d. The pixels of each image must be increasing and below
// Pixels (Dataset's invariant, checked by Validate); NewIndex panics otherwise.
func NewIndex(d *Dataset) *Index {
	x := &Index{d: d}
	var nImg, nPix [cells]int
	for s := range d.Len() {
		pix, _ := d.Image(s)
		prev := -1
		for _, j := range pix {
			if int(j) >= Pixels || int(j) <= prev {
				panic("hessian: index of a dataset whose pixels are not increasing below 784: call Validate first")
			}
			g := int(j) / cellPixels
			if int(j)/cellPixels != prev/cellPixels || prev < 0 {
				nImg[g]++
			}
			nPix[g]++
			prev = int(j)
		}
	}
	for g := range x.cells {
		c := &x.cells[g]
		c.img = make([]int32, 0, nImg[g])
		c.start = make([]int32, 1, nImg[g]+1)
		c.pix = make([]uint8, 0, nPix[g])
		c.val = make([]uint8, 0, nPix[g])
	}
	for s := range d.Len() {
		pix, val := d.Image(s)
		for i, j := range pix {
			g := int(j) / cellPixels
			c := &x.cells[g]
			if i == 0 || int(pix[i-1])/cellPixels != g {
				if len(c.img) > 0 {
					c.start = append(c.start, int32(len(c.pix)))
				}
				c.img = append(c.img, int32(s))
			}
			c.pix = append(c.pix, uint8(int(j)-g*cellPixels))
			c.val = append(c.val, val[i])
		}
	}
	for g := range x.cells {
		c := &x.cells[g]
		if len(c.img) > 0 {
			c.start = append(c.start, int32(len(c.pix)))
		}
	}
	return x
}

// Dataset returns the images the index was built on.
func (x *Index) Dataset() *Dataset { return x.d }

// image returns the lit pixels (cell-local) and raw bytes of the i-th image of the cell.
func (c *cellStream) image(i int) (pix, val []uint8) {
	lo, hi := c.start[i], c.start[i+1]
	return c.pix[lo:hi], c.val[lo:hi]
}
