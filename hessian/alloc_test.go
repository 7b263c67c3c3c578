package hessian

import "testing"

// TestAssemblyAllocatesNothingPerImage: the assembly of a tile (the loop over images and
// their pixel pairs) makes the same, small number of allocations for 100 images as for
// 5000; nothing is allocated per sample.
func TestAssemblyAllocatesNothingPerImage(t *testing.T) {
	train, _ := loadMNIST(t)
	w := make([]float64, Params)
	const r0, c0, m = 2400, 2160, 480 // two cells of rows, the band of lit pixels
	dst := make([]float64, m*m)
	allocs := func(n int) float64 {
		c := NewCurvature(NewIndex(train.Slice(0, n)), w)
		c.AddBlock(dst, m, r0, m, c0, m, 1) // warms the accumulator pool
		return testing.AllocsPerRun(5, func() { c.AddBlock(dst, m, r0, m, c0, m, 1) })
	}
	few, many := allocs(100), allocs(5000)
	if many > few || many > 2 {
		t.Errorf("AddBlock allocates %v times for 5000 images, %v for 100; want no growth and at most 2", many, few)
	}
	var sum float64
	for _, v := range dst {
		sum += v
	}
	if sum == 0 {
		t.Fatal("the block is all zeros: it covers no lit pixels, so the test measures nothing")
	}
}
