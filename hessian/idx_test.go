package hessian

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxTestImage returns image s of a small deterministic set: strokes with grey edges, an
// empty image (s = 1), and images that touch the first and last pixels.
func idxTestImage(s int) []byte {
	img := make([]byte, Pixels)
	switch s % 4 {
	case 0: // a "1": a vertical stroke with grey edges
		for r := 4; r < 24; r++ {
			img[Side*r+13], img[Side*r+14], img[Side*r+15] = 100, 255, 37
		}
	case 1: // empty
	case 2: // the corners and a diagonal
		img[0], img[Side-1], img[Pixels-Side], img[Pixels-1] = 1, 2, 3, 255
		for r := range Side {
			img[Side*r+r] = byte(9 * r)
		}
	case 3: // every pixel lit
		for j := range img {
			img[j] = byte(1 + j%255)
		}
	}
	return img
}

// idxTestRaw returns IDX image and label files (raw) of the given images and labels.
func idxTestRaw(imgs [][]byte, labels []byte) (images, labelFile []byte) {
	images = binary.BigEndian.AppendUint32(nil, idxImagesMagic)
	images = binary.BigEndian.AppendUint32(images, uint32(len(imgs)))
	images = binary.BigEndian.AppendUint32(images, Side)
	images = binary.BigEndian.AppendUint32(images, Side)
	for _, img := range imgs {
		images = append(images, img...)
	}
	labelFile = binary.BigEndian.AppendUint32(nil, idxLabelsMagic)
	labelFile = binary.BigEndian.AppendUint32(labelFile, uint32(len(labels)))
	return images, append(labelFile, labels...)
}

// idxTestSet returns the three-image test set: images, labels, raw images and raw labels.
func idxTestSet() (images, labels []byte, imgs [][]byte, labs []byte) {
	imgs = [][]byte{idxTestImage(0), idxTestImage(1), idxTestImage(2)}
	labs = []byte{1, 0, 9}
	images, labels = idxTestRaw(imgs, labs)
	return images, labels, imgs, labs
}

// idxTestGzip compresses b at the given level.
func idxTestGzip(t testing.TB, b []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// idxTestCheck compares a decoded Dataset with the images and labels it was made from.
func idxTestCheck(t *testing.T, d *Dataset, imgs [][]byte, labs []byte) {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatalf("decoded dataset does not validate: %v", err)
	}
	if d.Len() != len(imgs) {
		t.Fatalf("decoded %d images, want %d", d.Len(), len(imgs))
	}
	if !slices.Equal(d.Labels, labs) {
		t.Errorf("labels %v, want %v", d.Labels, labs)
	}
	var nnz int64
	for s, img := range imgs {
		x := d.Dense(s)
		for j, b := range img {
			if b != 0 {
				nnz++
			}
			if x[j] != float64(b)/255 {
				t.Fatalf("image %d pixel %d = %v, want %d/255", s, j, x[j], b)
			}
		}
	}
	if d.NonZeros() != nnz {
		t.Errorf("NonZeros() = %d, want %d (only non-zero pixels are stored)", d.NonZeros(), nnz)
	}
}

// TestDecodeIDX decodes the small set plain and gzip-compressed in every combination, with
// names that lie about the compression: it is recognised by the content.
func TestDecodeIDX(t *testing.T) {
	t.Parallel()
	images, labels, imgs, labs := idxTestSet()
	gzImages, gzLabels := idxTestGzip(t, images, gzip.BestCompression), idxTestGzip(t, labels, gzip.NoCompression)
	for _, tc := range []struct {
		name     string
		img, lbl []byte
	}{
		{"raw/raw", images, labels},
		{"gz/raw", gzImages, labels},
		{"raw/gz", images, gzLabels},
		{"gz/gz", gzImages, gzLabels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := DecodeIDX(bytes.NewReader(tc.img), "images.gz", bytes.NewReader(tc.lbl), "labels.raw")
			if err != nil {
				t.Fatalf("DecodeIDX: %v", err)
			}
			idxTestCheck(t, d, imgs, labs)
		})
	}
}

// idxTestCase is a damaged pair of IDX streams and what its error message must contain.
type idxTestCase struct {
	name     string
	img, lbl []byte
	want     []string
}

// idxTestCases returns damaged inputs, each with the substrings its error must contain.
// Offsets: an image file has a 16-byte header and 784 bytes per image, a label file an
// 8-byte header and 1 byte per label; the set has 3 images, so 2368 and 11 bytes.
func idxTestCases(t testing.TB) []idxTestCase {
	images, labels, imgs, labs := idxTestSet()
	const img, lbl = "img.idx", "lbl.idx" // the names given to DecodeIDX
	put := func(b []byte, off int, v uint32) []byte {
		b = slices.Clone(b)
		binary.BigEndian.PutUint32(b[off:], v)
		return b
	}
	setByte := func(b []byte, off int, v byte) []byte {
		b = slices.Clone(b)
		b[off] = v
		return b
	}
	cat := func(a []byte, b ...byte) []byte { return append(slices.Clone(a), b...) }
	gz := func(b []byte) []byte { return idxTestGzip(t, b, gzip.BestCompression) }
	stored := func(b []byte) []byte { return idxTestGzip(t, b, gzip.NoCompression) }
	twoImages, twoLabels := idxTestRaw(imgs[:2], labs[:2])

	return []idxTestCase{
		{"empty images", nil, labels, []string{img, "truncated header", "has 0 bytes", "at least 16"}},
		{"short image header", images[:7], labels, []string{img, "truncated header", "has 7 bytes", "at least 16"}},
		{"short label header", images, labels[:5], []string{lbl, "truncated header", "has 5 bytes", "at least 8"}},
		{"short gzip image header", gz(images[:10]), labels, []string{img, "truncated header", "decompressed stream has 10 bytes"}},
		{"swapped", labels, images, []string{img, "bad magic number 2049 (0x00000801)", "want 2051", "swapped"}},
		{"bad image magic", put(images, 0, 0x12345678), labels, []string{img, "bad magic number 305419896 (0x12345678)", "byte offset 0", "want 2051 (0x00000803)"}},
		{"float images", put(images, 0, 0x00000d03), labels, []string{img, "bad magic number 3331", "want 2051"}},
		{"bad label magic", images, put(labels, 0, 0x00000803), []string{lbl, "bad magic number 2051", "want 2049 (0x00000801)", "swapped"}},
		{"2-d labels", images, put(labels, 0, 0x00000802), []string{lbl, "bad magic number 2050", "2 dimensions", "want 2049"}},
		{"32 rows", put(images, 8, 32), labels, []string{img, "images are 32x28", "want 28x28"}},
		{"0 cols", put(images, 12, 0), labels, []string{img, "images are 28x0", "want 28x28"}},
		{"count mismatch", images, twoLabels, []string{"count mismatch", img + " has 3 images", lbl + " has 2 labels"}},
		{"count mismatch other way", twoImages, labels, []string{"count mismatch", img + " has 2 images", lbl + " has 3 labels"}},
		{"no images", put(images[:16], 4, 0), put(labels[:8], 4, 0), []string{img, "says 0 images", "want at least 1"}},
		{"2^31 images", cat(put(images[:16], 4, 1<<31), images[16:100]...), put(labels, 4, 1<<31),
			[]string{img, "claims 2147483648 images", "limit of 10000000"}},
		{"2^32-1 labels", images, put(labels, 4, 1<<32-1), []string{lbl, "claims 4294967295 labels", "limit of 10000000"}},
		{"truncated image", images[:len(images)-100], labels,
			[]string{img, "truncated data", "image 2", "offset 2368", "ends at byte offset 2268", "3 images, 2368 bytes in all"}},
		{"truncated at an image boundary", images[:16+2*784], labels, []string{img, "truncated data", "image 2", "ends at byte offset 1584"}},
		{"header only", images[:16], labels, []string{img, "truncated data", "image 0", "ends at byte offset 16"}},
		{"truncated labels", images, labels[:10], []string{lbl, "truncated data", "label 2", "ends at byte offset 10", "11 bytes in all"}},
		{"trailing image bytes", cat(images, 0, 0, 7, 0, 0), labels, []string{img, "5 trailing bytes", "after byte offset 2368", "3 images"}},
		{"trailing label byte", images, cat(labels, 3), []string{lbl, "1 trailing byte", "after byte offset 11", "3 labels"}},
		{"label 10", images, setByte(labels, 9, 10), []string{lbl, "label 1 is 10", "byte offset 9", "want 0..9"}},
		{"label 255", images, setByte(labels, 10, 255), []string{lbl, "label 2 is 255", "byte offset 10", "want 0..9"}},
		{"gzip header only", []byte{0x1f, 0x8b}, labels, []string{img, "corrupt gzip stream", "bad gzip header"}},
		{"gzip bad method", setByte(gz(images), 2, 7), labels, []string{img, "corrupt gzip stream", "bad gzip header"}},
		// BTYPE = 3 in the first deflate block (byte 10, after the 10-byte gzip header) is reserved.
		{"gzip bad block type", setByte(gz(images), 10, 0x07), labels, []string{img, "corrupt gzip stream", "byte offset 0 of the decompressed stream"}},
		// A stored (uncompressed) block keeps the length, so a changed byte shows as a bad checksum.
		{"gzip bad data", setByte(stored(images), 100, stored(images)[100]^0xff), labels, []string{img, "corrupt gzip stream", "checksum"}},
		{"gzip bad crc", setByte(gz(images), len(gz(images))-8, gz(images)[len(gz(images))-8]^1), labels, []string{img, "corrupt gzip stream", "checksum"}},
		{"gzip bad length", setByte(gz(images), len(gz(images))-4, gz(images)[len(gz(images))-4]^1), labels, []string{img, "corrupt gzip stream"}},
		{"gzip cut short", images, gz(labels)[:len(gz(labels))-5], []string{lbl, "corrupt gzip stream", "ends early"}},
		{"gzip cut in half", gz(images)[:len(gz(images))/2], labels, []string{img, "corrupt gzip stream", "ends early"}},
		{"gzip garbage after", cat(gz(images), 'x', 'y', 'z', 0, 0, 0, 0, 0, 0, 0, 0, 0), labels, []string{img, "corrupt gzip stream", "invalid header"}},
		{"gzip truncated image", gz(images[:2000]), labels, []string{img, "truncated data", "image 2", "ends at byte offset 2000 of the decompressed stream"}},
		{"gzip trailing bytes", gz(cat(images, 1, 2, 3)), labels, []string{img, "3 trailing bytes", "after byte offset 2368 of the decompressed stream"}},
		{"gzip bad label", images, gz(setByte(labels, 8, 10)), []string{lbl, "label 0 is 10", "byte offset 8 of the decompressed stream"}},
	}
}

// TestDecodeIDXErrors checks that each kind of damage is refused with a message that names
// the file and says what was wrong and where.
func TestDecodeIDXErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range idxTestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := DecodeIDX(bytes.NewReader(tc.img), "img.idx", bytes.NewReader(tc.lbl), "lbl.idx")
			if err == nil {
				t.Fatalf("DecodeIDX = %d images, nil; want an error containing %q", d.Len(), tc.want)
			}
			if d != nil {
				t.Errorf("DecodeIDX returned a dataset with its error %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "hessian: ") {
				t.Errorf("error %q does not start with \"hessian: \"", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// idxTestFailingReader returns data, then err.
type idxTestFailingReader struct {
	data []byte
	err  error
}

func (r *idxTestFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestDecodeIDXReadError checks that an error of the reader is reported as such, wrapped,
// and not as damaged data, in plain and gzip streams.
func TestDecodeIDXReadError(t *testing.T) {
	t.Parallel()
	images, labels, _, _ := idxTestSet()
	errDisk := errors.New("disk on fire")
	gz := idxTestGzip(t, images, gzip.BestCompression)
	for _, tc := range []struct {
		name string
		img  []byte
		want string
	}{
		{"raw", images[:1000], "reading at byte offset 1000"},
		{"raw at start", nil, "reading at byte 0"},
		{"gzip", gz[:len(gz)/2], "reading at byte offset"},
		{"gzip header", gz[:5], "reading the gzip header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeIDX(&idxTestFailingReader{tc.img, errDisk}, "img.idx", bytes.NewReader(labels), "lbl.idx")
			if !errors.Is(err, errDisk) {
				t.Fatalf("DecodeIDX error %v, want one wrapping %v", err, errDisk)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "img.idx") || strings.Contains(msg, "corrupt") {
				t.Errorf("error %q: want %q and the file name, and not \"corrupt\"", msg, tc.want)
			}
		})
	}
}

// TestDecodeIDXHugeCount checks that a header claiming many images in a small file fails at
// once, without allocating for the count. Not parallel: it measures allocations.
func TestDecodeIDXHugeCount(t *testing.T) {
	images, labels, _, _ := idxTestSet()
	for _, n := range []uint32{1 << 31, MaxIDXImages, 1 << 20} {
		img := slices.Clone(images[:100])
		binary.BigEndian.PutUint32(img[4:], n)
		lbl := slices.Clone(labels)
		binary.BigEndian.PutUint32(lbl[4:], n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeIDX(bytes.NewReader(img), "img.idx", bytes.NewReader(lbl), "lbl.idx")
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("DecodeIDX(%d images in 100 bytes) succeeded", n)
		}
		// 16 MB: the buffers and the first few thousand images, far from n*784 bytes.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Errorf("DecodeIDX(%d images in 100 bytes) allocated %d bytes before failing: %v", n, alloc, err)
		}
	}
}

// idxTestTiny describes the files of testdata/mnist-tiny: a training set of 3 images and a
// test set of 2, in the MNIST names, some plain and some gzip.
var idxTestTiny = []struct {
	file string // name in testdata/mnist-tiny
	gz   bool
	data func() []byte
}{
	{"train-images-idx3-ubyte.gz", true, func() []byte { b, _ := idxTestRaw(idxTestTinyTrain()); return b }},
	{"train-labels-idx1-ubyte", false, func() []byte { _, b := idxTestRaw(idxTestTinyTrain()); return b }},
	{"t10k-images-idx3-ubyte", false, func() []byte { b, _ := idxTestRaw(idxTestTinyTest()); return b }},
	{"t10k-labels-idx1-ubyte.gz", true, func() []byte { _, b := idxTestRaw(idxTestTinyTest()); return b }},
}

func idxTestTinyTrain() ([][]byte, []byte) {
	return [][]byte{idxTestImage(0), idxTestImage(1), idxTestImage(2)}, []byte{1, 0, 9}
}

func idxTestTinyTest() ([][]byte, []byte) {
	return [][]byte{idxTestImage(2), idxTestImage(3)}, []byte{7, 3}
}

// TestIDXTestdata checks that the files in testdata/mnist-tiny hold what idxTestTiny says.
// HESS_UPDATE_TESTDATA=1 rewrites them.
func TestIDXTestdata(t *testing.T) {
	dir := filepath.Join("testdata", "mnist-tiny")
	update := os.Getenv("HESS_UPDATE_TESTDATA") == "1"
	for _, f := range idxTestTiny {
		path := filepath.Join(dir, f.file)
		want := f.data()
		if update {
			b := want
			if f.gz {
				b = idxTestGzip(t, want, gzip.BestCompression)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (HESS_UPDATE_TESTDATA=1 go test -run TestIDXTestdata ./hessian/ writes it)", err)
		}
		if gzipped := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b; gzipped != f.gz {
			t.Errorf("%s: gzip %v, want %v", path, gzipped, f.gz)
		}
		if f.gz {
			z, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if b, err = io.ReadAll(z); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		if !bytes.Equal(b, want) {
			t.Errorf("%s does not hold what idxTestTiny says (HESS_UPDATE_TESTDATA=1 rewrites it)", path)
		}
	}
}

// TestLoadIDX loads the files of testdata/mnist-tiny, plain and gzip, and checks that a
// missing file is named.
func TestLoadIDX(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "mnist-tiny")
	d, err := LoadIDX(filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte"))
	if err != nil {
		t.Fatalf("LoadIDX: %v", err)
	}
	imgs, labs := idxTestTinyTrain()
	idxTestCheck(t, d, imgs, labs)

	d, err = LoadIDX(filepath.Join(dir, "t10k-images-idx3-ubyte"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatalf("LoadIDX: %v", err)
	}
	imgs, labs = idxTestTinyTest()
	idxTestCheck(t, d, imgs, labs)

	missing := filepath.Join(t.TempDir(), "no-such-labels")
	_, err = LoadIDX(filepath.Join(dir, "t10k-images-idx3-ubyte"), missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadIDX with missing labels: error %v, want one naming %s and wrapping os.ErrNotExist", err, missing)
	}
}

// idxTestReference decodes IDX streams the simplest way, as a reference for the fuzz test:
// it reports whether the pair is valid and, if so, the images and labels.
func idxTestReference(t *testing.T, img, lbl []byte) (imgs [][]byte, labs []byte, ok bool) {
	gunzip := func(b []byte) ([]byte, bool) {
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			return b, true
		}
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false
		}
		const limit = 64 << 20 // a fuzzed gzip bomb is not worth comparing
		out, err := io.ReadAll(io.LimitReader(z, limit))
		if len(out) == limit {
			t.Skip("decompresses to more than 64 MiB")
		}
		return out, err == nil
	}
	img, okImg := gunzip(img)
	lbl, okLbl := gunzip(lbl)
	if !okImg || !okLbl || len(img) < 16 || len(lbl) < 8 {
		return nil, nil, false
	}
	be := binary.BigEndian
	n := int64(be.Uint32(img[4:]))
	if be.Uint32(img) != 2051 || be.Uint32(img[8:]) != 28 || be.Uint32(img[12:]) != 28 ||
		be.Uint32(lbl) != 2049 || int64(be.Uint32(lbl[4:])) != n || n < 1 || n > MaxIDXImages ||
		int64(len(img)) != 16+784*n || int64(len(lbl)) != 8+n {
		return nil, nil, false
	}
	for i := range n {
		if lbl[8+i] > 9 {
			return nil, nil, false
		}
		imgs = append(imgs, img[16+784*i:16+784*(i+1)])
	}
	return imgs, lbl[8:], true
}

// FuzzDecodeIDX checks that DecodeIDX never panics, that whatever it returns validates, and
// that it agrees with a naive reference decoder on what is valid and what it holds.
func FuzzDecodeIDX(f *testing.F) {
	images, labels, _, _ := idxTestSet()
	f.Add(images, labels)
	f.Add(idxTestGzip(f, images, gzip.BestSpeed), idxTestGzip(f, labels, gzip.NoCompression))
	for _, tc := range idxTestCases(f) {
		f.Add(tc.img, tc.lbl)
	}
	f.Fuzz(func(t *testing.T, img, lbl []byte) {
		d, err := DecodeIDX(bytes.NewReader(img), "img.idx", bytes.NewReader(lbl), "lbl.idx")
		imgs, labs, ok := idxTestReference(t, img, lbl)
		if err != nil {
			if d != nil {
				t.Fatalf("DecodeIDX returned a dataset with its error %v", err)
			}
			if ok {
				t.Fatalf("DecodeIDX refused a valid pair: %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "img.idx") && !strings.Contains(msg, "lbl.idx") {
				t.Fatalf("error %q names neither file", msg)
			}
			return
		}
		if !ok {
			t.Fatalf("DecodeIDX accepted a pair the reference refuses (%d images)", d.Len())
		}
		idxTestCheck(t, d, imgs, labs)
	})
}
